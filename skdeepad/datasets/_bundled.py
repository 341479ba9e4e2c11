"""Anomaly detection tasks built from the data sets scikit-learn ships."""

from numbers import Real

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

# name -> (loader, label(s) of the normal class). Anomalies are drawn from
# all the other classes. breast_cancer: 1 = benign; digits: digit 0; wine:
# class_1 (the largest cultivar); iris: versicolor (not the trivially
# separable setosa).
_TASKS = {
    "breast_cancer": (load_breast_cancer, (1,)),
    "digits": (load_digits, (0,)),
    "wine": (load_wine, (1,)),
    "iris": (load_iris, (1,)),
}


def _make_task(loader, normal_classes, contamination, rng):
    X, labels = loader(return_X_y=True)
    is_normal = np.isin(labels, normal_classes)
    normals = np.flatnonzero(is_normal)
    candidates = np.flatnonzero(~is_normal)
    n_anomalies = int(round(contamination / (1.0 - contamination) * len(normals)))
    n_anomalies = min(max(n_anomalies, 2), len(candidates))
    anomalies = rng.choice(candidates, size=n_anomalies, replace=False)
    rows = rng.permutation(np.concatenate([normals, anomalies]))
    return X[rows].astype(np.float64), (~is_normal[rows]).astype(np.int64)


@validate_params(
    {
        "contamination": [Interval(Real, 0, 0.5, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_bundled_tasks(*, contamination=0.05, random_state=0):
    """Build small anomaly detection tasks from scikit-learn's own data sets.

    These tasks need no download and no network: they are built from the
    data sets that ship with scikit-learn. They are the fallback of the
    examples and benchmarks when no benchmark file (ODDS, ADBench, MNIST) is
    available, and are handy for quick experiments and tests. Each task
    keeps every sample of one class as the normal data and adds a random
    subsample of the other classes as anomalies:

    =================  ====  ========  ======================================
    name               d     normals   normal / anomalies
    =================  ====  ========  ======================================
    ``breast_cancer``  30    357       benign / malignant tumours
    ``digits``         64    178       digit 0 / digits 1-9 (8x8 images)
    ``wine``           13    71        cultivar class_1 / class_0, class_2
    ``iris``           4     50        versicolor / setosa, virginica
    =================  ====  ========  ======================================

    Parameters
    ----------
    contamination : float in (0, 0.5), default=0.05
        Fraction of anomalies in each task. Their number is rounded, and at
        least 2 anomalies are kept so that each task can be split into train
        and test.
    random_state : int, RandomState instance or None, default=0
        Seeds the choice of anomalies and the row order. The default gives
        the same tasks on every call.

    Returns
    -------
    tasks : dict of str to tuple (X, y)
        ``X`` is a float64 array of shape (n_samples, n_features) and ``y``
        an int64 array of shape (n_samples,) with 1 for an anomaly and 0 for
        a normal sample. Rows are shuffled. Keys are the names above, in that
        order.

    See Also
    --------
    load_odds : Real benchmark sets (need a download or a data folder).
    make_semisupervised_split : Turn a task into a semi-supervised scenario.

    Examples
    --------
    >>> from skdeepad.datasets import make_bundled_tasks
    >>> tasks = make_bundled_tasks()
    >>> list(tasks)
    ['breast_cancer', 'digits', 'wine', 'iris']
    >>> X, y = tasks["breast_cancer"]
    >>> X.shape, int(y.sum())
    ((376, 30), 19)
    """
    rng = check_random_state(random_state)
    return {
        name: _make_task(loader, normal_classes, contamination, rng)
        for name, (loader, normal_classes) in _TASKS.items()
    }
