"""The Deep SAD paper's semi-supervised train/test scenario."""

from numbers import Real

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils import check_array, check_consistent_length, check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import column_or_1d

from ..utils._labels import as_partial_labels


def _floor(value):
    """Truncate a count, ignoring floating-point noise just below an integer.

    ``0.01 * 99 / 0.99`` is 1 in exact arithmetic but may be computed as
    0.9999999999999999; rounding to 9 decimals first keeps it 1.
    """
    return int(np.floor(np.round(value, 9)))


def _training_counts(
    n_normal, ratio_labeled_normals, ratio_labeled_anomalies, ratio_pollution
):
    """Solve the Deep SAD protocol's equations for the training-set counts.

    With ``N`` training normals, labeled-normal ratio ``r_n``, labeled-anomaly
    ratio ``r_a`` and pollution ratio ``r_p``, the counts ``n_ln`` (labeled
    normals), ``n_un`` (unlabeled normals), ``n_ua`` (unlabeled anomalies)
    and ``n_la`` (labeled anomalies), with total ``T``, satisfy

        n_ln + n_un = N
        n_ln = r_n T
        n_la = r_a T
        n_ua = r_p (n_un + n_ua)

    whose solution is ``T = N / ((1 - r_p)(1 - r_a) + r_n r_p)``,
    ``n_ln = r_n T``, ``n_la = r_a T``,
    ``n_ua = r_p / (1 - r_p) * (N - r_n T)``.
    """
    total = n_normal / (
        (1.0 - ratio_pollution) * (1.0 - ratio_labeled_anomalies)
        + ratio_labeled_normals * ratio_pollution
    )
    n_labeled_normal = _floor(ratio_labeled_normals * total)
    n_labeled_anomaly = _floor(ratio_labeled_anomalies * total)
    n_polluting = _floor(
        ratio_pollution
        / (1.0 - ratio_pollution)
        * (n_normal - ratio_labeled_normals * total)
    )
    # Every training normal is used: the unlabeled ones are the rest.
    n_unlabeled_normal = n_normal - n_labeled_normal
    return n_labeled_normal, n_unlabeled_normal, n_polluting, n_labeled_anomaly


def _split_indices(indices, test_size, rng, what):
    try:
        return train_test_split(indices, test_size=test_size, random_state=rng)
    except ValueError as exc:
        raise ValueError(
            f"Cannot split the {len(indices)} {what} into a training and a test "
            f"part with test_size={test_size}: {exc}"
        ) from exc


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "ratio_labeled_anomalies": [Interval(Real, 0, 1, closed="left")],
        "ratio_labeled_normals": [Interval(Real, 0, 1, closed="left")],
        "ratio_pollution": [Interval(Real, 0, 1, closed="left")],
        "test_size": [Interval(Real, 0, 1, closed="neither")],
        "standardize": ["boolean"],
        "minmax": ["boolean"],
        "known_anomaly_mask": ["array-like", None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_semisupervised_split(
    X,
    y,
    *,
    ratio_labeled_anomalies=0.01,
    ratio_labeled_normals=0.0,
    ratio_pollution=0.0,
    test_size=0.4,
    standardize=True,
    minmax=True,
    known_anomaly_mask=None,
    random_state=None,
):
    """Build a semi-supervised anomaly detection scenario, as in Deep SAD.

    Implements the experimental protocol of the Deep SAD paper (Ruff et al.,
    2020) in the form of its authors' code, from a fully labeled data set:

    1. Normal samples and anomalies are each split into a training and a test
       part (``test_size`` of each goes to the test set), so the test set
       keeps the anomaly proportion of ``y``.
    2. The training set keeps **all** training normals, a few of them
       labeled if ``ratio_labeled_normals > 0``; a fraction
       ``ratio_labeled_anomalies`` of the final training set are labeled
       anomalies; and, if ``ratio_pollution > 0``, unlabeled anomalies make
       up that fraction of the unlabeled part. The remaining training
       anomalies are dropped. See Notes for the counts.
    3. The training rows are shuffled; a scaler is fitted on them and applied
       to both sets (see ``standardize`` and ``minmax``).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples, ...)
        Data. N-D input (images) is accepted only with ``standardize=False``
        and ``minmax=False``; it is then returned with its dtype unchanged.
    y : array-like of shape (n_samples,)
        Ground truth: 1 for an anomaly, 0 for a normal sample (booleans are
        accepted). At least two samples of each class are needed.
    ratio_labeled_anomalies : float in [0, 1), default=0.01
        Fraction of the training set that are labeled anomalies (the paper's
        gamma_l).
    ratio_labeled_normals : float in [0, 1), default=0.0
        Fraction of the training set that are labeled normal samples (the
        paper's experiments use 0). ``ratio_labeled_normals +
        ratio_labeled_anomalies`` must not exceed 1.
    ratio_pollution : float in [0, 1), default=0.0
        Fraction of the *unlabeled* training samples that are (unlabeled)
        anomalies (the paper's gamma_p).
    test_size : float in (0, 1), default=0.4
        Fraction of the normal samples, and of the anomalies, that go to the
        test set.
    standardize : bool, default=True
        Whether to standardise the features (zero mean, unit variance) with a
        :class:`~sklearn.preprocessing.StandardScaler` fitted on the returned
        training set, applied to both sets.
    minmax : bool, default=True
        Whether to then rescale the features to [0, 1] with a
        :class:`~sklearn.preprocessing.MinMaxScaler` fitted on the (already
        standardised) training set, applied to both sets. The training set
        then lies exactly in [0, 1]; the test set may fall outside. On by
        default because the authors' code does it and the paper's results
        were obtained with it (the paper's text mentions standardisation
        only); it also keeps inputs in the range of an autoencoder's sigmoid
        output layer.
    known_anomaly_mask : array-like of shape (n_samples,) of bool, default=None
        Which anomalies may be chosen as *labeled* anomalies, for example
        those of the "known anomaly classes" of the paper's image experiments
        (its k_l). Polluting anomalies are drawn from all anomalies. Must be
        False for normal samples. None means that every anomaly may be
        labeled.
    random_state : int, RandomState instance or None, default=None
        Seeds the one random generator used for both train/test splits, the
        choice of labeled and polluting samples and the shuffles. Pass an int
        for reproducible output across calls.

    Returns
    -------
    X_train : ndarray of shape (n_train, ...)
        Training samples, shuffled; float64 if scaled.
    y_partial : ndarray of shape (n_train,), dtype int64
        Semi-supervised labels, in the convention of ``fit(X, y)`` of the
        package's detectors: +1 labeled normal, -1 labeled anomaly, 0
        unlabeled.
    X_test : ndarray of shape (n_test, ...)
        Test samples (all test normals and all test anomalies), shuffled,
        transformed with the scalers fitted on ``X_train``.
    y_test : ndarray of shape (n_test,), dtype int64
        Ground truth of the test samples in the convention of ``y`` (1
        anomaly, 0 normal).

    Raises
    ------
    ValueError
        If ``y`` has values other than 0 and 1, or fewer than two samples of
        a class; if scaling is requested for N-D ``X``; if
        ``ratio_labeled_normals + ratio_labeled_anomalies > 1``; if the
        training split holds too few anomalies (or too few eligible ones, see
        ``known_anomaly_mask``) for the requested ratios (the message gives
        the numbers); or if ``known_anomaly_mask`` marks a normal sample.

    See Also
    --------
    load_odds : The tabular sets of the paper's Table 1.
    make_bundled_tasks : Small tasks built from scikit-learn's data sets.

    Notes
    -----
    **Counts.** Let ``N`` be the number of training normals and ``r_n``,
    ``r_a``, ``r_p`` the three ratios. The numbers of labeled normals
    ``n_ln``, unlabeled normals ``n_un``, unlabeled (polluting) anomalies
    ``n_ua`` and labeled anomalies ``n_la`` solve the authors' four
    equations ``n_ln + n_un = N``, ``n_ln = r_n T``, ``n_la = r_a T`` and
    ``n_ua = r_p (n_un + n_ua)``, with ``T`` the training-set size:

    .. math::

        T = \\frac{N}{(1 - r_p)(1 - r_a) + r_n r_p}, \\quad
        n_{ln} = \\lfloor r_n T \\rfloor, \\quad
        n_{la} = \\lfloor r_a T \\rfloor, \\quad
        n_{ua} = \\left\\lfloor \\frac{r_p}{1 - r_p} (N - r_n T) \\right\\rfloor,

    and ``n_un = N - n_ln``. Without labeled normals and pollution (the
    paper's setting) this is ``n_la = floor(r_a / (1 - r_a) * N)``: with
    ``r_a = 0.01``, one labeled anomaly per 99 training normals.

    **Differences from the authors' code**, all deliberate:

    - Labeled anomalies and polluting anomalies are disjoint. The code draws
      them independently, so one anomaly can end up both labeled and
      unlabeled (twice in the training set).
    - Every training normal is used. The code truncates ``n_ln`` and
      ``n_un`` separately, which can drop one normal.
    - The scalers are fitted on the returned training set. The code fits
      them on the whole training part of the split, including the anomalies
      that are then dropped.
    - Randomness comes from ``random_state`` only (the code also uses
      NumPy's global generator), and the test rows are shuffled.

    References
    ----------
    .. [1] L. Ruff, R. A. Vandermeulen, N. Görnitz, A. Binder, E. Müller,
       K.-R. Müller and M. Kloft (2020). Deep Semi-Supervised Anomaly
       Detection. ICLR 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad.datasets import make_semisupervised_split
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(size=(900, 4)), rng.normal(3, 1, size=(100, 4))]
    >>> y = np.r_[np.zeros(900, dtype=int), np.ones(100, dtype=int)]
    >>> X_train, y_partial, X_test, y_test = make_semisupervised_split(
    ...     X, y, ratio_labeled_anomalies=0.05, random_state=0)
    >>> X_train.shape, X_test.shape
    ((568, 4), (400, 4))
    >>> np.unique(y_partial, return_counts=True)
    (array([-1,  0]), array([ 28, 540]))
    >>> int(y_test.sum())
    40
    >>> float(X_train.min()), float(X_train.max())
    (0.0, 1.0)
    """
    scale = standardize or minmax
    X = check_array(X, dtype=None, allow_nd=True)
    if scale and X.ndim != 2:
        raise ValueError(
            f"standardize and minmax scale each feature of a 2-D X, but X has "
            f"shape {X.shape}. For images or other N-D data pass "
            "standardize=False and minmax=False (and scale the pixels "
            "yourself, e.g. divide by 255), or flatten X to 2-D first."
        )
    y = column_or_1d(y, warn=True)
    check_consistent_length(X, y)
    values = np.unique(y)
    if not np.all(np.isin(values, (0, 1))):
        hint = ""
        if np.all(np.isin(values, (-1, 1))):
            hint = (
                " It looks like predict's convention (+1 inlier, -1 outlier):"
                " convert it with y = (y == -1).astype(int)."
            )
        raise ValueError(
            "y must be 1 for an anomaly and 0 for a normal sample; got the "
            f"values {values.tolist()}.{hint}"
        )
    y = y.astype(np.int64)
    normals = np.flatnonzero(y == 0)
    anomalies = np.flatnonzero(y == 1)
    if len(normals) < 2 or len(anomalies) < 2:
        raise ValueError(
            "y must hold at least 2 normal samples (0) and 2 anomalies (1), so "
            f"that each can be split into train and test; got {len(normals)} "
            f"normal samples and {len(anomalies)} anomalies."
        )
    if known_anomaly_mask is None:
        labelable = y == 1
    else:
        labelable = column_or_1d(known_anomaly_mask)
        check_consistent_length(y, labelable)
        if labelable.dtype != bool:
            raise ValueError(
                "known_anomaly_mask must be a boolean array; got dtype "
                f"{labelable.dtype}."
            )
        if np.any(labelable & (y == 0)):
            raise ValueError(
                f"known_anomaly_mask is True for {int(np.sum(labelable & (y == 0)))}"
                " normal samples (y == 0); it may only mark anomalies."
            )
    if ratio_labeled_normals + ratio_labeled_anomalies > 1:
        raise ValueError(
            "ratio_labeled_normals + ratio_labeled_anomalies must not exceed 1; "
            f"got {ratio_labeled_normals} + {ratio_labeled_anomalies}."
        )

    rng = check_random_state(random_state)
    normals_train, normals_test = _split_indices(
        normals, test_size, rng, "normal samples"
    )
    anomalies_train, anomalies_test = _split_indices(
        anomalies, test_size, rng, "anomalies"
    )

    n_ln, n_un, n_ua, n_la = _training_counts(
        len(normals_train),
        ratio_labeled_normals,
        ratio_labeled_anomalies,
        ratio_pollution,
    )
    eligible = anomalies_train[labelable[anomalies_train]]
    if n_la + n_ua > len(anomalies_train) or n_la > len(eligible):
        eligible_note = (
            f", of which {len(eligible)} may be labeled (known_anomaly_mask)"
            if known_anomaly_mask is not None
            else ""
        )
        raise ValueError(
            f"Not enough training anomalies for the requested ratios: with "
            f"{len(normals_train)} training normals, "
            f"ratio_labeled_anomalies={ratio_labeled_anomalies} needs {n_la} "
            f"labeled anomalies and ratio_pollution={ratio_pollution} needs "
            f"{n_ua} unlabeled (polluting) ones, {n_la + n_ua} in all, but the "
            f"training split has {len(anomalies_train)} anomalies{eligible_note} "
            f"({len(anomalies)} in y, {len(anomalies_test)} kept for the test "
            "set). Lower the ratios or test_size."
        )

    shuffled_normals = rng.permutation(normals_train)
    labeled_anomalies = rng.permutation(eligible)[:n_la]
    # Polluting anomalies come from the training anomalies not labeled.
    rest = np.setdiff1d(anomalies_train, labeled_anomalies)
    polluting = rng.permutation(rest)[:n_ua]

    train = np.concatenate([shuffled_normals, polluting, labeled_anomalies])
    y_partial = np.concatenate(
        [
            np.ones(n_ln, dtype=np.int64),
            np.zeros(n_un + n_ua, dtype=np.int64),
            np.full(n_la, -1, dtype=np.int64),
        ]
    )
    order = rng.permutation(len(train))
    train, y_partial = train[order], y_partial[order]
    test = rng.permutation(np.concatenate([normals_test, anomalies_test]))

    # Fancy indexing copies: the caller's X is never modified.
    X_train, X_test, y_test = X[train], X[test], y[test]
    if scale:
        X_train = X_train.astype(np.float64)
        X_test = X_test.astype(np.float64)
    if standardize:
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    if minmax:
        scaler = MinMaxScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        # Remove rounding noise (e.g. 1.0000000000000002) so that the
        # training set is exactly in [0, 1].
        np.clip(X_train, 0.0, 1.0, out=X_train)
    if (y_partial == 1).any() and not (y_partial == -1).any():
        # Labeled normals and no labeled anomaly: marked, so that fit does not
        # mistake the +1/0 labels for ground truth (1 = anomaly).
        y_partial = as_partial_labels(y_partial)
    return X_train, y_partial, X_test, y_test
