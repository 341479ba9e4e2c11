"""The partial-label convention: +1 known normal, -1 known anomaly, 0 unlabeled."""

import numpy as np
from sklearn.utils.validation import check_consistent_length, column_or_1d


def check_partial_labels(y, n_samples, *, allow_only_anomalies=False):
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

    Returns
    -------
    y : ndarray of shape (n_samples,), dtype int64
    """
    if y is None:
        return np.zeros(n_samples, dtype=np.int64)
    y = column_or_1d(y, warn=True)
    check_consistent_length(np.empty(n_samples), y)
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
    y = y_num.astype(np.int64)
    if not allow_only_anomalies and len(y) and np.all(y == -1):
        raise ValueError(
            "Every sample is labeled -1 (known anomaly): a detector needs normal "
            "or unlabeled data to learn what is normal."
        )
    return y
