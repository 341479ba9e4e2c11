"""The DROCC paper's tabular anomaly tasks, its two F1 protocols and synthetic sets.

Two train/test protocols are used for the tabular F1 scores of DROCC's
Table 2 (thyroid, arrhythmia, abalone), each with its metric in
:mod:`skdeepad.metrics`:

* :func:`make_drocc_split` / :func:`~skdeepad.metrics.drocc_f1_score` — what the authors' code
  does (``process_odds.py``, ``process_abalone.py``, ``drocc_trainer.py``):
  the test set holds every anomaly and as many randomly chosen normals, the
  training set the other normals; F1 of the *normal* class, "normal" being
  predicted for the 80 % highest test scores.
* :func:`make_half_normal_split` / :func:`~skdeepad.metrics.anomaly_ratio_f1_score` — the
  protocol of DAGMM (Zong et al., 2018) and GOAD (Bergman & Hoshen, 2020),
  which the paper cites: train on a random half of the normals, test on the
  other half and all anomalies; F1 of the *anomaly* class, flagging the
  share of test samples that the anomaly ratio predicts.

Labels follow the package's loaders: ``y = 1`` anomaly, ``0`` normal.
"""

import math
import numbers

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_array, column_or_1d

from ._tabular import load_abalone

__all__ = [
    "load_abalone_outliers",
    "make_drocc_split",
    "make_half_normal_split",
    "make_noisy_sine",
    "make_sine_manifold",
    "make_sphere_manifold",
]

#: Rings of the abalones the DROCC paper (after Das et al., 2018) calls
#: normal and anomalous; all other ring counts are dropped.
ABALONE_NORMAL_RINGS = (8, 9, 10)
ABALONE_ANOMALY_RINGS = (3, 21)

#: The authors' code adds this to the training standard deviation.
_STD_EPS = 1e-4


def load_abalone_outliers(*, data_home=None, download=True, verify=False):
    """UCI Abalone as the DROCC paper's anomaly task.

    Abalones with 8, 9 or 10 rings are normal, those with 3 or 21 rings
    anomalous, all others are dropped (Goyal et al., 2020, Section 5.1,
    following Das et al., 2018): 1891 normals and 29 anomalies, 8 features
    (sex encoded M=0, F=1, I=2 as in the authors' preprocessing).

    Parameters
    ----------
    data_home : str or path-like, default=None
        Data folder (see :func:`load_abalone`).
    download : bool, default=True
        Whether to try to download ``uci/abalone.csv`` if it is missing.
    verify : bool, default=False
        Whether to check the SHA-256 digest of the file already in the data
        home (see :func:`load_abalone`).

    Returns
    -------
    X : ndarray of shape (n_samples, 8)
    y : ndarray of shape (n_samples,), dtype int64
        1 for an anomaly (3 or 21 rings), 0 for a normal abalone.

    See Also
    --------
    load_abalone : The raw data with all ring counts.
    make_drocc_split : The paper's train/test protocol.

    Examples
    --------
    >>> from skdeepad.datasets import load_abalone_outliers
    >>> X, y = load_abalone_outliers()  # doctest: +SKIP
    >>> X.shape, int(y.sum())  # doctest: +SKIP
    ((1920, 8), 29)
    """
    X, rings = load_abalone(data_home=data_home, download=download, verify=verify)
    normal = np.isin(rings, ABALONE_NORMAL_RINGS)
    anomalous = np.isin(rings, ABALONE_ANOMALY_RINGS)
    keep = normal | anomalous
    return X[keep], anomalous[keep].astype(np.int64)


def _check_task(X, y):
    X = check_array(X, dtype=np.float64)
    y = column_or_1d(y)
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels.")
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError(
            "y must hold 1 (anomaly) and 0 (normal), as the package's loaders "
            f"return them; got the values {np.unique(y)[:10].tolist()}."
        )
    y = y.astype(np.int64)
    n_anomalies = int(y.sum())
    if n_anomalies < 1 or len(y) - n_anomalies < 2:
        raise ValueError(
            f"y has {n_anomalies} anomalies and {len(y) - n_anomalies} normals; the "
            "protocol needs at least one anomaly and two normals."
        )
    return X, y


def _standardise(X_train, X_test):
    """z-score both with the training mean and (std + 1e-4), as the authors' code."""
    mean, std = X_train.mean(axis=0), X_train.std(axis=0) + _STD_EPS
    return (X_train - mean) / std, (X_test - mean) / std


@validate_params(
    {"X": ["array-like"], "y": ["array-like"], "random_state": ["random_state"]},
    prefer_skip_nested_validation=True,
)
def make_drocc_split(X, y, *, random_state=None):
    """The train/test split of the DROCC authors' code for tabular data.

    The test set is every anomaly plus the same number of normals drawn at
    random; the training set is all remaining normals (no anomaly).  Both are
    z-scored with the training mean and standard deviation (+1e-4).  This is
    how the reference code (``process_odds.py``, ``process_abalone.py``,
    ``main_tabular.py``) prepares thyroid, arrhythmia and abalone; it is
    seeded here (the original shuffles with the global NumPy RNG).

    With half of the test set anomalous, a detector that ranks at random
    reaches a normal-class :func:`~skdeepad.metrics.drocc_f1_score` of about 0.62 and a perfect
    one about 0.77.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        1 anomaly, 0 normal.  Needs more normals than anomalies.
    random_state : int, RandomState instance or None, default=None
        Draw of the test normals and the order of the test set.

    Returns
    -------
    X_train : ndarray of shape (n_normals - n_anomalies, n_features)
    X_test : ndarray of shape (2 * n_anomalies, n_features)
    y_test : ndarray of shape (2 * n_anomalies,), dtype int64
        1 anomaly, 0 normal.

    See Also
    --------
    skdeepad.metrics.drocc_f1_score : The F1 the authors' code reports on this split.
    make_half_normal_split : The DAGMM/GOAD protocol.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad.datasets import make_drocc_split
    >>> X = np.arange(40.0).reshape(20, 2)
    >>> y = np.r_[np.zeros(16), np.ones(4)]
    >>> X_train, X_test, y_test = make_drocc_split(X, y, random_state=0)
    >>> X_train.shape, X_test.shape, int(y_test.sum())
    ((12, 2), (8, 2), 4)
    """
    X, y = _check_task(X, y)
    rng = check_random_state(random_state)
    normals, anomalies = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    if len(normals) <= len(anomalies):
        raise ValueError(
            f"The DROCC protocol puts as many normals as anomalies in the test set "
            f"and trains on the rest: it needs more normals than anomalies; got "
            f"{len(normals)} normals and {len(anomalies)} anomalies."
        )
    normals = rng.permutation(normals)
    test = rng.permutation(np.r_[normals[: len(anomalies)], anomalies])
    X_train, X_test = _standardise(X[normals[len(anomalies):]], X[test])
    return X_train, X_test, y[test]


@validate_params(
    {"X": ["array-like"], "y": ["array-like"], "random_state": ["random_state"]},
    prefer_skip_nested_validation=True,
)
def make_half_normal_split(X, y, *, random_state=None):
    """The train/test split of DAGMM and GOAD: half of the normals for training.

    A random half of the normals is the training set; the other half and
    every anomaly form the test set (Zong et al., 2018; Bergman & Hoshen,
    2020).  Both are z-scored with the training mean and standard deviation
    (+1e-4), as :func:`make_drocc_split` does, so that DROCC's radius means
    the same under both protocols.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        1 anomaly, 0 normal.
    random_state : int, RandomState instance or None, default=None
        Draw of the training normals and the order of the test set.

    Returns
    -------
    X_train : ndarray of shape (n_normals // 2, n_features)
    X_test : ndarray of shape (n_samples - n_normals // 2, n_features)
    y_test : ndarray of shape (n_samples - n_normals // 2,), dtype int64
        1 anomaly, 0 normal.

    See Also
    --------
    skdeepad.metrics.anomaly_ratio_f1_score : The F1 these papers report on this split.
    make_drocc_split : The DROCC authors' protocol.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad.datasets import make_half_normal_split
    >>> X = np.arange(40.0).reshape(20, 2)
    >>> y = np.r_[np.zeros(16), np.ones(4)]
    >>> X_train, X_test, y_test = make_half_normal_split(X, y, random_state=0)
    >>> X_train.shape, X_test.shape, int(y_test.sum())
    ((8, 2), (12, 2), 4)
    """
    X, y = _check_task(X, y)
    rng = check_random_state(random_state)
    normals, anomalies = rng.permutation(np.flatnonzero(y == 0)), np.flatnonzero(y == 1)
    n_train = len(normals) // 2
    test = rng.permutation(np.r_[normals[n_train:], anomalies])
    X_train, X_test = _standardise(X[normals[:n_train]], X[test])
    return X_train, X_test, y[test]


def _n_samples_constraint():
    return [Interval(numbers.Integral, 1, None, closed="left")]


@validate_params(
    {"n_samples": _n_samples_constraint(),
     "displacement": [Interval(numbers.Real, 0, None, closed="neither")],
     "random_state": ["random_state"]},
    prefer_skip_nested_validation=True,
)
def make_sine_manifold(n_samples=1000, *, displacement=0.2, random_state=None):
    """Normals on a 1-D sine curve in 2-D; anomalies on copies shifted vertically.

    The synthetic set of DROCC's Figure 1 and Appendix B.1: normals
    ``(t, sin t)`` with ``t`` uniform on ``[-2 pi, 2 pi]``, anomalies
    ``(t, sin t +- displacement)`` (each sign for half of them).  The paper
    does not state the range of ``t``; two periods match its figures.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of normals, and of anomalies.
    displacement : float > 0, default=0.2
        Vertical distance of the anomalous curves (Table 7: 0.2 to 2.0).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X_normal : ndarray of shape (n_samples, 2)
    X_anomalous : ndarray of shape (n_samples, 2)

    Examples
    --------
    >>> from skdeepad.datasets import make_sine_manifold
    >>> normal, anomalous = make_sine_manifold(100, displacement=0.5, random_state=0)
    >>> normal.shape, anomalous.shape
    ((100, 2), (100, 2))
    """
    rng = check_random_state(random_state)
    t = rng.uniform(-2 * math.pi, 2 * math.pi, size=n_samples)
    normal = np.c_[t, np.sin(t)]
    t = rng.uniform(-2 * math.pi, 2 * math.pi, size=n_samples)
    sign = np.where(np.arange(n_samples) % 2 == 0, 1.0, -1.0)
    return normal, np.c_[t, np.sin(t) + sign * displacement]


@validate_params(
    {"n_samples": _n_samples_constraint(),
     "n_features": [Interval(numbers.Integral, 1, None, closed="left")],
     "radius": [Interval(numbers.Real, 1, None, closed="neither")],
     "random_state": ["random_state"]},
    prefer_skip_nested_validation=True,
)
def make_sphere_manifold(n_samples=1000, *, n_features=2, radius=1.2, random_state=None):
    """Normals uniform in the unit ball; anomalies on a sphere of larger radius.

    DROCC's Appendix B.2 (Figure 4, Table 6): normals are drawn uniformly
    from the *volume* of the unit ball, anomalies uniformly from the
    *surface* of the sphere of radius ``radius`` (1.2 to 2.0 in the paper).
    The paper's figure is 2-D; ``n_features`` allows other dimensions.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of normals, and of anomalies.
    n_features : int, default=2
        Dimension of the ball.
    radius : float > 1, default=1.2
        Radius of the anomalies' sphere.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X_normal : ndarray of shape (n_samples, n_features)
    X_anomalous : ndarray of shape (n_samples, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad.datasets import make_sphere_manifold
    >>> normal, anomalous = make_sphere_manifold(100, radius=1.5, random_state=0)
    >>> bool(np.all(np.linalg.norm(normal, axis=1) <= 1))
    True
    >>> np.allclose(np.linalg.norm(anomalous, axis=1), 1.5)
    True
    """
    rng = check_random_state(random_state)

    def directions():
        g = rng.standard_normal((n_samples, n_features))
        return g / np.linalg.norm(g, axis=1, keepdims=True)

    # Uniform in the ball: a uniform direction at radius U^(1/d).
    normal = directions() * rng.uniform(size=(n_samples, 1)) ** (1.0 / n_features)
    return normal, radius * directions()


@validate_params(
    {"n_samples": _n_samples_constraint(),
     "n_noise_features": [Interval(numbers.Integral, 0, None, closed="left")],
     "random_state": ["random_state"]},
    prefer_skip_nested_validation=True,
)
def make_noisy_sine(n_samples=1024, *, n_noise_features=8, random_state=None):
    """The 10-D noisy sine of DROCC's Section 5.2.1 (OCLN, Figure 1(c)-(d)).

    The first two coordinates lie on the 2-D sine curve of
    :func:`make_sine_manifold`; the other ``n_noise_features`` are standard
    normal noise, the same for normals and anomalies, so only the first two
    carry information.

    Parameters
    ----------
    n_samples : int, default=1024
        Number of points.
    n_noise_features : int, default=8
        Number of pure-noise coordinates appended.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, 2 + n_noise_features)

    Examples
    --------
    >>> from skdeepad.datasets import make_noisy_sine
    >>> make_noisy_sine(50, random_state=0).shape
    (50, 10)
    """
    rng = check_random_state(random_state)
    t = rng.uniform(-2 * math.pi, 2 * math.pi, size=n_samples)
    return np.c_[t, np.sin(t), rng.standard_normal((n_samples, n_noise_features))]
