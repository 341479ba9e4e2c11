"""The Deep SAD paper's one-vs-rest scenarios on multi-class data (Section 4.1)."""

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import column_or_1d

from ._semisupervised import make_semisupervised_split

__all__ = ["make_one_vs_rest_scenario"]


def make_one_vs_rest_scenario(
    X,
    classes,
    *,
    normal_class,
    n_known_anomaly_classes=1,
    known_anomaly_classes=None,
    ratio_labeled_anomalies=0.05,
    ratio_labeled_normals=0.0,
    ratio_pollution=0.1,
    test_size=0.4,
    standardize=False,
    minmax=False,
    random_state=None,
):
    """One class normal, the others anomalous, a few of them known (Ruff et al., 2020).

    The paper's image experiments (Section 4.1) make one class normal and the
    rest anomalies, label a fraction ``gamma_l`` of the training set as
    anomalies drawn from ``k_l`` *known* anomaly classes, and pollute the
    unlabeled training data with a fraction ``gamma_p`` of anomalies from all
    classes.  Its three scenarios vary one of these with the others at their
    defaults gamma_l = 0.05, gamma_p = 0.1, k_l = 1: (i) ``ratio_labeled_anomalies``,
    (ii) ``ratio_pollution``, (iii) ``n_known_anomaly_classes``.  The test
    set keeps every class, so anomalies of classes never labeled measure
    generalisation to novel anomalies.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples (images may stay N-D when no scaling is requested).
    classes : array-like of shape (n_samples,)
        Class of each sample.
    normal_class : object
        The class that is normal.
    n_known_anomaly_classes : int, default=1
        k_l: how many anomaly classes are drawn at random as known (ignored
        when ``known_anomaly_classes`` is given).
    known_anomaly_classes : sequence, default=None
        The known anomaly classes, if chosen by the caller.
    ratio_labeled_anomalies, ratio_labeled_normals, ratio_pollution, test_size, standardize, \
minmax
        As in :func:`make_semisupervised_split` (gamma_l, labeled normals,
        gamma_p, the test fraction, scaling).  Scaling is off by default: the
        paper feeds images in [0, 1] unchanged.
    random_state : int, RandomState instance or None, default=None
        Seed of the choice of known classes and of the split.

    Returns
    -------
    X_train, y_partial, X_test, y_test : ndarray
        As :func:`make_semisupervised_split`: ``y_partial`` is +1/-1/0 and
        ``y_test`` is 1 for an anomaly, 0 for a normal sample.
    known_anomaly_classes : ndarray
        The anomaly classes the labeled anomalies come from.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdeepad.datasets import make_one_vs_rest_scenario
    >>> X, digits = load_digits(return_X_y=True)
    >>> X_train, y_partial, X_test, y_test, known = make_one_vs_rest_scenario(
    ...     X / 16, digits, normal_class=0, random_state=0)
    >>> sorted(set(y_partial.tolist())), len(known)
    ([-1, 0], 1)
    """
    classes = column_or_1d(classes)
    rng = check_random_state(random_state)
    if normal_class not in set(classes.tolist()):
        raise ValueError(f"normal_class={normal_class!r} is not among the classes "
                         f"{sorted(set(classes.tolist()))}.")
    others = np.array(sorted(set(classes.tolist()) - {normal_class}))
    if known_anomaly_classes is None:
        if not 0 <= n_known_anomaly_classes <= len(others):
            raise ValueError(f"n_known_anomaly_classes must be in [0, {len(others)}]; got "
                             f"{n_known_anomaly_classes}.")
        known = rng.choice(others, n_known_anomaly_classes, replace=False)
    else:
        known = np.asarray(known_anomaly_classes)
        unknown = set(known.tolist()) - set(others.tolist())
        if unknown:
            raise ValueError(f"known_anomaly_classes {sorted(unknown)} are not anomaly "
                             f"classes (anomaly classes: {others.tolist()}).")
    y = (classes != normal_class).astype(int)
    split = make_semisupervised_split(
        X, y,
        ratio_labeled_anomalies=ratio_labeled_anomalies,
        ratio_labeled_normals=ratio_labeled_normals,
        ratio_pollution=ratio_pollution,
        test_size=test_size,
        standardize=standardize,
        minmax=minmax,
        known_anomaly_mask=np.isin(classes, known),
        random_state=rng,
    )
    return (*split, np.sort(known))
