"""Looking inside fitted detectors: training curves and research diagnostics.

Beside :func:`plot_history`, the diagnostics of the knowledge-distillation
paper (Mai, Davies and Griffin, 2021), which the benchmarks use to compare
teacher representations: the teacher's features
(:func:`teacher_features`), the secondary detectors on them
(:func:`mahalanobis_score`), the brittleness of Eq. 2 (:func:`brittleness`)
and the linear-probe accuracy (:func:`linear_probe_score`).  They take a
fitted :class:`~skdeepad.KDStudentTeacher`; PyTorch is imported only when
one of them is called.  For :class:`~skdeepad.AMA`,
:func:`reconstruction_error` is the pixel error its benchmarks compare its
critic-based scores with.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted, column_or_1d

__all__ = [
    "brittleness",
    "linear_probe_score",
    "mahalanobis_score",
    "plot_history",
    "reconstruction_error",
    "teacher_features",
]


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


# ------------------------------------------------ knowledge distillation
def _check_kd(detector, name):
    """Raise unless ``detector`` is a fitted :class:`~skdeepad.KDStudentTeacher`."""
    from ._kd import KDStudentTeacher  # imports torch: only when a diagnostic is called

    if not isinstance(detector, KDStudentTeacher):
        raise TypeError(
            f"{name} takes a fitted KDStudentTeacher; got {type(detector).__name__}.")
    check_is_fitted(detector)


def _check_rep(rep):
    if rep not in ("head", "pooled"):
        raise ValueError(f"rep must be 'head' or 'pooled'; got {rep!r}.")


def _features(detector, X, rep):
    """The teacher representation ``rep`` of ``X`` as a float64 array (checked)."""
    X = detector._to_tensor(detector._validate_X(X, reset=False))
    module = detector.teacher_ if rep == "head" else detector.teacher_[0]
    return detector._map_batches(module, X).double().cpu().numpy()


def _gaussian(Z, rcond=1e-6):
    """Mean, pseudo-inverse covariance and variances of the rows of ``Z`` (float64)."""
    Z = np.asarray(Z, dtype=np.float64)
    mean = Z.mean(axis=0)
    cov = np.atleast_2d(np.cov(Z, rowvar=False))
    # Pseudo-inverse dropping eigenvalues below rcond x the largest: with
    # fewer samples than dimensions the covariance is singular.
    eigval, eigvec = np.linalg.eigh(cov)
    keep = eigval > rcond * max(eigval.max(), np.finfo(float).tiny)
    precision = (eigvec[:, keep] / eigval[keep]) @ eigvec[:, keep].T
    var = np.diag(cov).copy()
    var = np.maximum(var, rcond * max(var.max(), np.finfo(float).tiny))
    return {"mean": mean, "covariance": cov, "precision": precision, "var": var}


def teacher_features(detector, X, *, rep="head"):
    """The frozen teacher's representation of ``X`` in a knowledge-distillation detector.

    Diagnostic of the paper [1]_.

    Parameters
    ----------
    detector : fitted :class:`~skdeepad.KDStudentTeacher`
        The detector whose teacher (``detector.teacher_``) maps ``X``.
    X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
        Samples, in any form the detector's ``fit`` accepts.
    rep : {"head", "pooled"}, default="head"
        ``"head"``: h(x), the distillation target the student regresses;
        ``"pooled"``: the backbone's pooled features under the head (the
        paper's "final pooling layer").

    Returns
    -------
    Z : ndarray of shape (n_samples, head_dim) or (n_samples, d), float64
        One row per sample.

    Raises
    ------
    TypeError
        If ``detector`` is not a :class:`~skdeepad.KDStudentTeacher`.

    References
    ----------
    .. [1] Mai, K. T., Davies, T., Griffin, L. D. "Brittle Features May Help
       Anomaly Detection." Women in Computer Vision Workshop at CVPR 2021,
       arXiv:2104.10453.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import KDStudentTeacher
    >>> from skdeepad.inspection import teacher_features
    >>> X = np.random.RandomState(0).randn(50, 4)
    >>> det = KDStudentTeacher(head_dim=8, epochs=1, device="cpu", random_state=0).fit(X)
    >>> teacher_features(det, X[:3]).shape
    (3, 8)
    """
    _check_kd(detector, "teacher_features")
    _check_rep(rep)
    return _features(detector, X, rep)


def mahalanobis_score(detector, X_train, X, *, kind="full", rep="head"):
    """The paper's secondary detectors on a frozen teacher's representation.

    Diagnostic of the paper [1]_.

    The Gaussian of the representation is fitted to ``X_train`` -- the
    normal training data in the paper ("we computed the mean and covariance
    of normal training data using the teacher representations", Sec. 3.3
    and App. A.3) -- and ``X`` is scored by its distance to it.  The student
    is not used: these detectors compare the teacher's representation with
    the knowledge distillation score ``detector.score_samples``.  Like
    ``score_samples``, higher means more normal: the paper's anomaly score
    is the negative.

    Parameters
    ----------
    detector : fitted :class:`~skdeepad.KDStudentTeacher`
        The detector whose teacher (``detector.teacher_``) gives the representation.
    X_train : array-like of shape (n_train, n_features) or (n_train,) + input_shape
        Normal samples, at least 2, whose representation defines the mean
        and covariance (typically the data the detector was fitted on,
        without its known anomalies).
    X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
        Samples to score.
    kind : {"full", "diagonal", "mean"}, default="full"
        ``"full"``: Mahalanobis distance ``(z - mu)^T Sigma^+ (z - mu)``
        (pseudo-inverse, eigenvalues below 1e-6 of the largest dropped);
        ``"diagonal"``: with ``diag(Sigma)``; ``"mean"``: the paper's
        "MSE", ``||z - mu||^2 / dim``.  ``Sigma`` is the covariance with
        ``n_train - 1`` degrees of freedom.
    rep : {"head", "pooled"}, default="head"
        Which representation: the head output h(x) that the student
        regresses (the paper's), or the pooled backbone features.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        Minus the squared distance.

    Raises
    ------
    TypeError
        If ``detector`` is not a :class:`~skdeepad.KDStudentTeacher`.

    References
    ----------
    .. [1] Mai, K. T., Davies, T., Griffin, L. D. "Brittle Features May Help
       Anomaly Detection." Women in Computer Vision Workshop at CVPR 2021,
       arXiv:2104.10453.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import KDStudentTeacher
    >>> from skdeepad.inspection import mahalanobis_score
    >>> X = np.random.RandomState(0).randn(100, 4)
    >>> det = KDStudentTeacher(head_dim=8, epochs=1, device="cpu", random_state=0).fit(X)
    >>> scores = mahalanobis_score(det, X, [[0.0, 0.0, 0.0, 0.0], [8.0, -8.0, 8.0, -8.0]])
    >>> bool(scores[0] > scores[1])
    True
    """
    _check_kd(detector, "mahalanobis_score")
    if kind not in ("full", "diagonal", "mean"):
        raise ValueError(f"kind must be 'full', 'diagonal' or 'mean'; got {kind!r}.")
    _check_rep(rep)
    Z_train = _features(detector, X_train, rep)
    if len(Z_train) < 2:
        raise ValueError("mahalanobis_score needs at least 2 samples in X_train for a "
                         f"covariance; got {len(Z_train)}.")
    g = _gaussian(Z_train)
    D = _features(detector, X, rep) - g["mean"]
    if kind == "full":
        dist = np.einsum("ij,jk,ik->i", D, g["precision"], D)
    elif kind == "diagonal":
        dist = (D**2 / g["var"]).sum(axis=1)
    else:
        dist = (D**2).mean(axis=1)
    return -dist


def brittleness(detector, X, *, through_teacher=False):
    """Eq. 2 of the paper: mean input-gradient norm of the distillation loss over its spread.

    Diagnostic of the paper [1]_.

    ``E_x ||d L(x) / d x||_2 / tr(Sigma)``, with ``L(x)`` the student-teacher
    MSE of sample ``x`` and ``Sigma`` the covariance of the error vectors
    ``f(x) - h(x)`` over ``X`` (the normal training data in the paper).
    Larger values mean more "brittle" (adversarially vulnerable) features,
    which the paper finds go with better anomaly detection (Sec. 3.5, 4.2).

    Parameters
    ----------
    detector : fitted :class:`~skdeepad.KDStudentTeacher`
        The detector whose student and teacher are differentiated.
    X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
        Samples, at least 2 (the normal training data in the paper).
    through_teacher : bool, default=False
        False: the teacher output is a fixed target, as in the student's
        training loss ("gradient norms ... with respect to the student
        network", Sec. 3.5).  True: differentiate through h(x) as well,
        i.e. the gradient of the anomaly score itself.

    Returns
    -------
    brittleness : float

    Raises
    ------
    TypeError
        If ``detector`` is not a :class:`~skdeepad.KDStudentTeacher`.

    References
    ----------
    .. [1] Mai, K. T., Davies, T., Griffin, L. D. "Brittle Features May Help
       Anomaly Detection." Women in Computer Vision Workshop at CVPR 2021,
       arXiv:2104.10453.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import KDStudentTeacher
    >>> from skdeepad.inspection import brittleness
    >>> X = np.random.RandomState(0).randn(50, 4)
    >>> det = KDStudentTeacher(head_dim=8, epochs=1, device="cpu", random_state=0).fit(X)
    >>> brittleness(det, X) > 0
    True
    """
    import torch

    from ._train import batch_slices
    from .base import INFERENCE_BATCH_SIZE

    _check_kd(detector, "brittleness")
    X = detector._to_tensor(detector._validate_X(X, reset=False))
    if len(X) < 2:
        raise ValueError("brittleness needs at least 2 samples for a covariance.")
    for module in detector._fitted_modules():
        module.eval()
    norms, errors = [], []
    # Samples are independent in evaluation mode, so the gradient of the
    # batch's summed loss holds every per-sample gradient at once.
    for a, b in batch_slices(len(X), INFERENCE_BATCH_SIZE // 8):
        x = X[a:b].clone().requires_grad_(True)
        with torch.enable_grad():
            h = detector.teacher_(x)
            if not through_teacher:
                h = h.detach()
            err = detector.student_(x) - h
            loss = (err**2).mean(dim=1)
            (grad,) = torch.autograd.grad(loss.sum(), x)
        norms.append(grad.flatten(1).norm(dim=1).detach())
        errors.append(err.detach())
    errors = torch.cat(errors).double().cpu().numpy()
    spread = float(np.trace(np.atleast_2d(np.cov(errors, rowvar=False))))
    return float(torch.cat(norms).double().mean()) / spread


def linear_probe_score(detector, X_train, y_train, X_test, y_test, *, rep="pooled", C=1.0):
    """Accuracy of a linear classifier on a frozen teacher's representation.

    Diagnostic of the paper [1]_.

    The "Classification Acc." column of the paper: the pretrained network
    is frozen and only a linear head is trained (Sec. 3.3).  Here the head
    is a multinomial logistic regression on standardised features, fitted
    to its optimum (the paper fine-tunes a linear layer by gradient
    descent; the model class is the same).  A separability diagnostic of
    the teacher's representation, not part of the detector.

    Parameters
    ----------
    detector : fitted :class:`~skdeepad.KDStudentTeacher`
        The detector whose teacher gives the representation.
    X_train, X_test : array-like
        Samples in any form the detector's ``fit`` accepts.
    y_train, y_test : array-like of shape (n_samples,)
        Any class labels (10 digits, or normal vs anomaly).
    rep : {"pooled", "head"}, default="pooled"
        Representation probed: the pooled backbone features (the
        paper's "final pooling layer") or the head output h(x).
    C : float, default=1.0
        Inverse L2 regularisation of the logistic regression.

    Returns
    -------
    accuracy : float
        Fraction of ``X_test`` classified correctly.

    Raises
    ------
    TypeError
        If ``detector`` is not a :class:`~skdeepad.KDStudentTeacher`.

    References
    ----------
    .. [1] Mai, K. T., Davies, T., Griffin, L. D. "Brittle Features May Help
       Anomaly Detection." Women in Computer Vision Workshop at CVPR 2021,
       arXiv:2104.10453.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import KDStudentTeacher
    >>> from skdeepad.inspection import linear_probe_score
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 4); y = (X[:, 0] > 0).astype(int)
    >>> det = KDStudentTeacher(head_dim=8, epochs=1, device="cpu", random_state=0).fit(X)
    >>> linear_probe_score(det, X[:50], y[:50], X[50:], y[50:]) > 0.8
    True
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _check_kd(detector, "linear_probe_score")
    _check_rep(rep)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    probe.fit(_features(detector, X_train, rep), column_or_1d(y_train))
    return float(probe.score(_features(detector, X_test, rep), column_or_1d(y_test)))


def reconstruction_error(detector, X):
    """Pixel reconstruction error of a fitted :class:`~skdeepad.AMA`.

    Diagnostic of the paper [1]_.

    AMA has no pixel loss and does not score with this error: its score is
    the critic-feature distance R (Eq. 5, :meth:`~skdeepad.AMA.r_score`)
    and its Gaussian likelihood (Eq. 6).  The mean absolute error of the
    reconstructions ``G(E(x))`` is the research diagnostic the AMA
    benchmarks set beside them ("pixel L1"), the score a plain
    autoencoder of the same networks would use (Somepalli et al., 2021,
    Sec. 1, on why a pixel loss is a poor anomaly score).

    Parameters
    ----------
    detector : fitted AMA
        The detector whose encoder and generator reconstruct ``X``.
    X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
        Samples, in any form ``fit`` accepts.

    Returns
    -------
    error : ndarray of shape (n_samples,)
        ``mean |G(E(x)) - x|`` over the values of each sample, computed in
        evaluation mode (higher = more anomalous).

    Raises
    ------
    TypeError
        If ``detector`` is not an :class:`~skdeepad.AMA`.

    References
    ----------
    .. [1] Somepalli, G., Wu, Y., Balaji, Y., Vinzamuri, B., Feizi, S.
       "Unsupervised Anomaly Detection with Adversarial Mirrored
       AutoEncoders." UAI 2021 (arXiv:2003.10713).

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import AMA
    >>> from skdeepad.inspection import reconstruction_error
    >>> X = np.random.RandomState(0).randn(100, 4)
    >>> det = AMA(epochs=1, n_critic=1, device="cpu", random_state=0).fit(X)
    >>> reconstruction_error(det, X[:3]).shape
    (3,)
    """
    from ._ama import AMA

    if not isinstance(detector, AMA):
        raise TypeError(
            f"reconstruction_error takes a fitted AMA; got {type(detector).__name__}."
        )
    check_is_fitted(detector)
    X = detector._to_tensor(detector._validate_X(X, reset=False))
    encoder, generator = detector.encoder_, detector.generator_
    error = detector._map_batches(
        lambda x: (generator(encoder(x)) - x).abs().flatten(1).mean(1), X)
    return error.double().cpu().numpy()
