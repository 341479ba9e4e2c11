"""The partial-label convention: +1 known normal, -1 known anomaly, 0 unlabeled.

Two conventions meet in anomaly detection and look alike: the *partial
labels* that ``fit`` takes (``+1`` known normal, ``-1`` known anomaly, ``0``
unlabeled, as in the Deep SAD paper) and the *ground truth* that
scikit-learn's metrics, ODDS and ADBench use (``1`` anomaly, ``0`` normal).
A ``y`` made only of 0s and 1s is valid in both and means opposite things
for every 1, so :func:`check_partial_labels` refuses it unless it is marked
as partial labels (:func:`as_partial_labels`), and :func:`to_partial_labels`
converts ground truth explicitly.
"""

import math
import numbers

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = ["PartialLabels", "as_partial_labels", "check_partial_labels", "to_partial_labels"]

_AMBIGUOUS = (
    "y holds only 0 and 1{what}: that is how scikit-learn, ODDS and ADBench "
    "write ground truth (1 = anomaly, 0 = normal), but fit reads partial labels "
    "(+1 = known normal, -1 = known anomaly, 0 = unlabeled), so every anomaly "
    "would be trained as a known normal. If 1 means anomaly, convert first: "
    "y = skdeepad.utils.to_partial_labels(y)  (every anomaly becomes a known "
    "anomaly -1, the rest unlabeled 0; its labeled_anomalies= keeps only a "
    "fraction of them). If +1 really means 'known normal' and no anomaly is "
    "labeled (also a cross-validation fold that happens to hold no -1), mark the "
    "labels before splitting: y = skdeepad.utils.as_partial_labels(y)."
)


class PartialLabels(np.ndarray):
    """An int64 array of partial labels that ``fit`` takes at their word.

    A plain ``ndarray`` of partial labels with one difference: a ``y`` that
    holds ``+1`` and ``0`` but no ``-1`` is accepted as known normals and
    unlabeled samples instead of being refused as possible 0/1 ground truth
    (see :func:`check_partial_labels`).  The mark survives indexing and
    slicing (so cross-validation folds keep it) and pickling; arithmetic and
    comparisons return plain arrays.  Build one with
    :func:`as_partial_labels` or :func:`to_partial_labels`.
    """

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # Results of ufuncs (comparisons, arithmetic, reductions) are plain
        # values: the mark describes these labels, not numbers derived from them.
        array = np.asarray(array).view(np.ndarray)
        return array[()] if return_scalar else array


def as_partial_labels(y):
    """Mark ``y`` as partial labels (+1 known normal, -1 known anomaly, 0 unlabeled).

    ``fit`` refuses a ``y`` made only of 0s and 1s, because that is also how
    ground truth is written (1 = anomaly).  When such a ``y`` really means
    "+1 = known normal, 0 = unlabeled" -- labeled normals and no labeled
    anomaly -- mark it with this function; the mark survives the indexing of
    cross-validation splits.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels in the partial-label convention: values in {+1, -1, 0}.

    Returns
    -------
    y : PartialLabels of shape (n_samples,)
        The labels as an int64 array marked as partial labels.

    Raises
    ------
    ValueError
        If ``y`` holds a value other than +1, -1 and 0.

    See Also
    --------
    to_partial_labels : Convert ground truth (1 = anomaly) into partial labels.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad.utils import as_partial_labels
    >>> y = as_partial_labels([1, 0, 0, 1])          # two known normals
    >>> y.tolist()
    [1, 0, 0, 1]
    """
    y = column_or_1d(y, warn=True)
    labels = _as_label_values(y)
    return labels.view(PartialLabels)


@validate_params(
    {
        "y_anomaly": ["array-like"],
        "labeled_anomalies": [Interval(numbers.Real, 0, 1, closed="both"),
                              Interval(numbers.Integral, 0, None, closed="left")],
        "labeled_normals": [Interval(numbers.Real, 0, 1, closed="both"),
                            Interval(numbers.Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def to_partial_labels(y_anomaly, *, labeled_anomalies=1.0, labeled_normals=0.0,
                      random_state=None):
    """Turn ground-truth anomaly labels (1 = anomaly) into partial labels for ``fit``.

    scikit-learn's metrics, ODDS and ADBench (and the package's own loaders
    :func:`~skdeepad.datasets.load_odds` and
    :func:`~skdeepad.datasets.load_adbench`) write ground truth as ``1``
    anomaly / ``0`` normal.  The detectors' ``fit`` takes partial labels:
    ``-1`` known anomaly, ``+1`` known normal, ``0`` unlabeled.  This function
    makes a chosen share of the anomalies known (``-1``), optionally a share
    of the normals (``+1``), and leaves every other sample unlabeled.

    Parameters
    ----------
    y_anomaly : array-like of shape (n_samples,)
        Ground truth: 1 (or True) for an anomaly, 0 (or False) for a normal
        sample.
    labeled_anomalies : float in [0, 1] or int >= 0, default=1.0
        Which anomalies become known anomalies (-1): a float is a fraction of
        the anomalies (rounded up, so any positive fraction labels at least
        one), an int a number of them.  The default labels every anomaly,
        which uses all of ``y_anomaly``'s information about anomalies.
    labeled_normals : float in [0, 1] or int >= 0, default=0.0
        Which normal samples become known normals (+1), likewise.  The
        default leaves every normal sample unlabeled (0), the Deep SAD
        paper's setting.
    random_state : int, RandomState instance or None, default=None
        Draws which anomalies and normals are labeled when only some are.
        Pass an int for the same choice on every call.

    Returns
    -------
    y : PartialLabels of shape (n_samples,)
        Int64 partial labels (-1, 0, +1), marked so that ``fit`` accepts them
        even when no anomaly ends up labeled.

    Raises
    ------
    ValueError
        If ``y_anomaly`` holds values other than 0 and 1 (the message points
        out partial labels or ``predict``'s +1/-1), or if an int asks for more
        samples than there are.

    See Also
    --------
    as_partial_labels : Mark labels that already follow the +1/-1/0 convention.
    skdeepad.datasets.make_semisupervised_split : The Deep SAD paper's whole
        protocol (train/test split, labeled and polluting anomalies, scaling).

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad.utils import to_partial_labels
    >>> y = np.array([0, 0, 1, 0, 1, 1, 0, 0])          # 1 = anomaly
    >>> to_partial_labels(y).tolist()                    # every anomaly known
    [0, 0, -1, 0, -1, -1, 0, 0]
    >>> y_fit = to_partial_labels(y, labeled_anomalies=1, random_state=0)
    >>> int((y_fit == -1).sum()), int((y_fit == 0).sum())
    (1, 7)
    """
    y_anomaly = column_or_1d(y_anomaly, warn=True)
    try:
        values = np.asarray(y_anomaly, dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    if values is None or not np.all(np.isin(values, (0, 1))):
        shown = np.unique(y_anomaly)[:10].tolist()
        hint = ""
        if values is not None and np.any(values == -1) and np.all(np.isin(values, (-1, 0, 1))):
            hint = (" It holds -1, so it looks like partial labels (+1/-1/0) or "
                    "predict's output already; pass such labels to fit as they are.")
        raise ValueError(
            "y_anomaly must be ground truth with 1 (anomaly) and 0 (normal); got the "
            f"values {shown}.{hint}"
        )
    rng = check_random_state(random_state)
    y = np.zeros(len(values), dtype=np.int64)
    for value, amount, name in ((1, labeled_anomalies, "labeled_anomalies"),
                                (0, labeled_normals, "labeled_normals")):
        candidates = np.flatnonzero(values == value)
        n = _count(amount, len(candidates), name)
        chosen = candidates if n == len(candidates) else rng.choice(candidates, n,
                                                                   replace=False)
        y[chosen] = -1 if value == 1 else 1
    return y.view(PartialLabels)


def _count(amount, available, name):
    """How many of ``available`` samples ``amount`` (fraction or count) labels."""
    if isinstance(amount, numbers.Integral) and not isinstance(amount, bool):
        if amount > available:
            raise ValueError(
                f"{name}={amount} asks for more samples than the {available} there are."
            )
        return int(amount)
    # Rounded up, like train_test_split's test_size; the rounding to 9 decimals
    # keeps 0.1 * 30 (= 3.0000000000000004) at 3.
    return min(available, math.ceil(round(float(amount) * available, 9)))


def _as_label_values(y):
    """``y`` as int64 after checking that every value is +1, -1 or 0."""
    try:
        y_num = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        y_num = None
    if y_num is None or not np.all(np.isin(y_num, (-1, 0, 1))):
        bad = np.unique(y[~np.isin(y, (-1, 0, 1))]) if y_num is not None else np.unique(y)
        raise ValueError(
            "y must contain only +1 (known normal), -1 (known anomaly) and 0 "
            f"(unlabeled); got the values {bad[:10].tolist()}."
        )
    return y_num.astype(np.int64)


def check_partial_labels(y, n_samples, *, allow_only_anomalies=False, reject_binary=None):
    """Validate partial labels and return them as an int64 array.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or None
        +1 known normal, -1 known anomaly, 0 unlabeled; None means all unlabeled.
    n_samples : int
        Number of samples the labels must describe.
    allow_only_anomalies : bool, default=False
        Whether every sample may be labeled -1 (an error when fitting a
        detector, which needs normal or unlabeled data).
    reject_binary : bool, default=None
        Whether to refuse a ``y`` that holds +1 but no -1 (only 0s and 1s, or
        a boolean array with a True), which is indistinguishable from
        ground truth written 1 = anomaly, unless ``y`` is a
        :class:`PartialLabels` (see :func:`as_partial_labels`).  ``None``
        means ``not allow_only_anomalies``: refused for the labels of
        training data, not for the fully labeled data of an evaluation.

    Returns
    -------
    y : ndarray of shape (n_samples,), dtype int64

    Raises
    ------
    ValueError
        If a value is not +1, -1 or 0; if the length is not ``n_samples``;
        if every sample is -1 (unless allowed); if ``y`` looks like 0/1
        ground truth (see ``reject_binary``).  The message of the last one
        gives the one-line conversion.
    """
    if y is None:
        return np.zeros(n_samples, dtype=np.int64)
    marked = isinstance(y, PartialLabels)
    if reject_binary is None:
        reject_binary = not allow_only_anomalies
    y = column_or_1d(y, warn=True)
    check_consistent_length(np.empty(n_samples), y)
    is_bool = y.dtype == bool
    y = _as_label_values(y)
    if reject_binary and not marked and np.any(y == 1) and not np.any(y == -1):
        what = " (a boolean array)" if is_bool else ""
        raise ValueError(_AMBIGUOUS.format(what=what))
    if not allow_only_anomalies and len(y) and np.all(y == -1):
        raise ValueError(
            "Every sample is labeled -1 (known anomaly): a detector needs normal "
            "or unlabeled data to learn what is normal."
        )
    return y
