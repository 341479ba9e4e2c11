"""Looking inside fitted detectors: training curves."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["plot_history"]


def _curves(history):
    """``{name: (epochs, values)}`` for every loss recorded in ``history``.

    A stacked member's history holds its own losses; should a record hold a
    list (one value per member of a stack), the mean is drawn.
    """
    curves = {}
    for name in dict.fromkeys(k for record in history for k in record if k.endswith("loss")):
        rows = [(r["epoch"], np.mean(r[name])) for r in history if name in r]
        curves[name] = tuple(np.array(v, dtype=float) for v in zip(*rows))
    return curves


def plot_history(estimator, *, ax=None, log_scale=None):
    """Plot the training curves of a fitted deep detector.

    Draws every loss recorded per epoch in ``history_`` (training loss,
    validation loss when ``validation_fraction`` is set, and the extra
    losses some methods log, such as AMA's critic loss) against the epoch
    and, when the detector was pretrained (``pretrain_history_``, e.g. Deep
    SAD's autoencoder), the pretraining losses in a second panel.

    Parameters
    ----------
    estimator : fitted estimator with ``history_``
        Any of the package's deep detectors after ``fit``.
    ax : matplotlib Axes or sequence of Axes, default=None
        Where to draw: one Axes per panel (training, then pretraining when
        there is one).  ``None`` creates a figure.
    log_scale : bool, default=None
        Logarithmic loss axis.  ``None``: when every loss drawn is positive
        and they span more than two orders of magnitude.

    Returns
    -------
    axes : list of matplotlib Axes
        The panels drawn: training, then pretraining if any.

    Raises
    ------
    ImportError
        If matplotlib is not installed (``pip install matplotlib``).
    TypeError
        If ``estimator`` records no training history.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import DeepSAD
    >>> from skdeepad.inspection import plot_history
    >>> det = DeepSAD(epochs=3, pretrain_epochs=2, device="cpu").fit(np.random.rand(50, 3))
    >>> [axis.get_title() for axis in plot_history(det)]
    ['DeepSAD: training', 'DeepSAD: pretraining']
    """
    check_is_fitted(estimator)
    if not hasattr(estimator, "history_"):
        raise TypeError(
            f"{type(estimator).__name__} records no training history (history_); "
            "plot_history draws the epochs of the package's deep detectors.")
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plot_history needs matplotlib: pip install matplotlib") from exc
    panels = [("training", estimator.history_)]
    if getattr(estimator, "pretrain_history_", None):
        panels.append(("pretraining", estimator.pretrain_history_))
    if ax is None:
        _, ax = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    axes = list(np.ravel(ax))
    if len(axes) < len(panels):
        raise ValueError(f"plot_history draws {len(panels)} panels; got {len(axes)} Axes.")
    for axis, (title, history) in zip(axes, panels):
        curves = _curves(history)
        for name, (epochs, values) in curves.items():
            axis.plot(epochs, values, marker="." if len(epochs) < 30 else None,
                      label=name.replace("_", " "))
        values = np.concatenate([v for _, v in curves.values()]) if curves else np.ones(1)
        log = log_scale
        if log is None:
            log = bool(np.all(values > 0) and values.max() > 100 * values.min())
        if log:
            axis.set_yscale("log")
        axis.set(xlabel="epoch", ylabel="loss", title=f"{type(estimator).__name__}: {title}")
        axis.legend()
    return axes[:len(panels)]
