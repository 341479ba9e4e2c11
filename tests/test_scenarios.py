"""The paper's one-vs-rest scenarios (make_one_vs_rest_scenario)."""

import numpy as np
import pytest

from skdeepad.datasets import make_one_vs_rest_scenario


def _data():
    rng = np.random.RandomState(0)
    classes = np.repeat(np.arange(5), 300)
    X = np.c_[classes, rng.rand(len(classes))]  # column 0 tells the class back
    return X, classes


def test_labeled_anomalies_come_from_known_classes_and_pollution_from_all():
    """-1 rows belong to the known classes; unlabeled anomalies span every anomaly class."""
    X, classes = _data()
    X_tr, y_p, X_te, y_te, known = make_one_vs_rest_scenario(
        X, classes, normal_class=2, n_known_anomaly_classes=2, random_state=0)
    cls_tr = X_tr[:, 0]
    assert len(known) == 2 and 2 not in known
    assert set(cls_tr[y_p == -1]) <= set(known)
    polluting = cls_tr[(y_p == 0) & (cls_tr != 2)]
    assert set(polluting) == {0, 1, 3, 4}
    assert np.mean(y_p == -1) == pytest.approx(0.05, abs=0.01)
    assert np.mean(polluting.size / np.sum(y_p == 0)) == pytest.approx(0.1, abs=0.01)
    assert set(X_te[y_te == 0, 0]) == {2} and set(X_te[y_te == 1, 0]) == {0, 1, 3, 4}


def test_explicit_known_classes_and_reproducibility():
    """Given known classes are used as is; a seed fixes the whole scenario."""
    X, classes = _data()
    a = make_one_vs_rest_scenario(X, classes, normal_class=0, known_anomaly_classes=[4],
                                  random_state=3)
    b = make_one_vs_rest_scenario(X, classes, normal_class=0, known_anomaly_classes=[4],
                                  random_state=3)
    assert a[4].tolist() == [4] and set(a[0][a[1] == -1, 0]) == {4}
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("kwargs, match", [
    ({"normal_class": 9}, "normal_class=9 is not among the classes"),
    ({"normal_class": 0, "n_known_anomaly_classes": 7}, r"must be in \[0, 4\]"),
    ({"normal_class": 0, "known_anomaly_classes": [0]}, r"\[0\] are not anomaly classes"),
])
def test_bad_scenarios_raise(kwargs, match):
    """Unknown normal class, too many known classes, a normal class marked known."""
    X, classes = _data()
    with pytest.raises(ValueError, match=match):
        make_one_vs_rest_scenario(X, classes, **kwargs)
