"""Label-aware metrics and scorers (skdeepad.metrics)."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepad import DeepSAD
from skdeepad.metrics import (
    labeled_average_precision,
    labeled_average_precision_score,
    labeled_f1_score,
    labeled_recall_at_fpr,
    labeled_roc_auc,
    labeled_roc_auc_score,
    make_labeled_scorer,
)

FAST = dict(epochs=3, pretrain_epochs=2, batch_size=32, device="cpu", random_state=0)


def test_unlabeled_samples_count_as_normal_unless_ignored():
    """Scores of unlabeled rows leave the metrics unchanged with unlabeled='ignore';
    the default (unlabeled='normal') counts them as normal."""
    y = np.array([1, 1, -1, -1, 0, 0])
    s = np.array([2.0, 1.5, -1.0, 1.8, 5.0, 0.0])
    s2 = s.copy()
    s2[4:] = [-9.0, -9.0]
    assert (labeled_roc_auc_score(y, s, unlabeled="ignore")
            == labeled_roc_auc_score(y, s2, unlabeled="ignore") == 0.75)
    assert labeled_roc_auc_score(y, s2) < labeled_roc_auc_score(y, s)
    assert labeled_roc_auc_score(y, s) == labeled_roc_auc_score(y, s, unlabeled="normal")


def test_anomalies_are_the_positive_class_under_normality_scores():
    """A detector scoring known normals higher than known anomalies gets AUC = AP = 1."""
    y = np.array([1, 1, 1, -1, -1, 0])
    s = np.array([3.0, 2.0, 1.0, -1.0, -2.0, 0.0])
    assert labeled_roc_auc_score(y, s) == 1.0
    assert labeled_average_precision_score(y, s) == 1.0
    assert labeled_roc_auc_score(y, -s) == 0.0


def test_f1_and_recall_at_fpr():
    """F1 counts -1 predictions on known anomalies; recall at FPR respects the FPR bound."""
    y = np.array([1, 1, 1, 1, -1, -1])
    assert labeled_f1_score(y, [1, 1, 1, -1, -1, 1]) == pytest.approx(0.5)
    s = np.array([4.0, 3.0, 2.0, 1.5, 1.0, 0.0])
    assert labeled_recall_at_fpr(y, s, fpr=0.0) == 1.0
    assert labeled_recall_at_fpr(y, np.array([4.0, 3.0, 2.0, -1.0, 1.0, 0.0]), fpr=0.0) == 0.0
    assert labeled_recall_at_fpr(y, np.array([4.0, 3.0, 2.0, -1.0, 1.0, 0.0]), fpr=0.25) == 1.0


@pytest.mark.parametrize("y, unlabeled, match", [
    (np.array([-1, -1, 0, 0]), "ignore", r"0 normals \(\+1\); the metric needs both"),
    (np.array([-1, -1, -1, -1]), "normal", r"0 normals \(\+1 or 0\); the metric needs both"),
    (np.array([1, 1, 0, 0]), "normal", r"hold 0 known anomalies"),
    (np.array([1, 2, -1, 0]), "normal", r"only \+1 \(known normal\)"),
])
def test_one_labeled_class_or_bad_labels_raise(y, unlabeled, match):
    """A split with one labeled class, or labels outside +1/-1/0, is a clear error."""
    with pytest.raises(ValueError, match=match):
        labeled_roc_auc_score(y, np.arange(4.0), unlabeled=unlabeled)


def test_unknown_metric_name_raises():
    """make_labeled_scorer names the metrics it knows."""
    with pytest.raises(ValueError, match="metric must be one of"):
        make_labeled_scorer("accuracy")


def _partially_labeled(seed=0):
    rng = np.random.RandomState(seed)
    X = np.r_[rng.randn(160, 4), rng.randn(40, 4) + 3]
    y = np.r_[np.zeros(120), np.ones(40), -np.ones(40)]
    order = rng.permutation(len(X))
    return X[order], y[order]


def test_grid_search_and_cross_val_score_with_labeled_scorers():
    """GridSearchCV over eta and cross_val_score run on partially labeled y."""
    X, y = _partially_labeled()
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    search = GridSearchCV(make_pipeline(StandardScaler(), DeepSAD(**FAST)),
                          {"deepsad__eta": [0.5, 2.0]}, cv=cv,
                          scoring={"auc": labeled_roc_auc, "ap": labeled_average_precision,
                                   "f1": make_labeled_scorer("f1"),
                                   "recall": make_labeled_scorer("recall_at_fpr", fpr=0.1)},
                          refit="auc")
    search.fit(X, y)
    for key in ("auc", "ap", "f1", "recall"):
        scores = search.cv_results_[f"mean_test_{key}"]
        assert np.all((scores >= 0) & (scores <= 1)), key
    assert search.best_score_ > 0.9  # anomalies at +3 are easy
    scores = cross_val_score(DeepSAD(**FAST), X, y, cv=cv, scoring=labeled_roc_auc)
    assert scores.shape == (2,) and np.all(scores > 0.75)


def test_fold_without_labeled_normals_reports_why():
    """When only anomalies are labeled, the default scorers count the unlabeled rows
    as normal; a scorer told to ignore them explains why it cannot score."""
    X, y = _partially_labeled()
    y = np.where(y == 1, 0, y)  # only anomalies are labeled
    with pytest.raises(ValueError, match="the metric needs both"):
        cross_val_score(DeepSAD(**FAST), X, y, cv=2, error_score="raise",
                        scoring=make_labeled_scorer("roc_auc", unlabeled="ignore"))
    scores = cross_val_score(DeepSAD(**FAST), X, y, cv=2, scoring=labeled_roc_auc)
    assert np.all(scores > 0.75)


def test_the_package_split_and_scorer_give_a_finite_grid_search():
    """make_semisupervised_split labels anomalies only; the ready scorer still scores
    every fold (the user guide's example), and an all-NaN stacked search is refused."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    from skdeepad.datasets import make_bundled_tasks, make_semisupervised_split
    from skdeepad.model_selection import StackedSearchCV

    X, y = make_bundled_tasks()["breast_cancer"]
    X_train, y_train, _, _ = make_semisupervised_split(
        X, y, ratio_labeled_anomalies=0.05, random_state=0)
    assert set(np.unique(y_train)) == {-1, 0}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    pipe = make_pipeline(MinMaxScaler(), DeepSAD(**FAST))
    search = GridSearchCV(pipe, {"deepsad__eta": [0.5, 2.0]}, scoring=labeled_roc_auc,
                          cv=cv).fit(X_train, y_train)
    assert np.isfinite(search.best_score_)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="Every candidate scored NaN"):
        StackedSearchCV(DeepSAD(**FAST), {"eta": [0.5, 2.0]}, cv=cv,
                        scoring=make_labeled_scorer("roc_auc", unlabeled="ignore"),
                        ).fit(X_train, y_train)


def test_parallel_grid_search_matches_sequential():
    """GridSearchCV with n_jobs=2 (joblib processes) gives the same scores as n_jobs=1."""
    X, y = _partially_labeled(1)
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    results = [
        GridSearchCV(DeepSAD(**FAST), {"eta": [0.5, 2.0]}, cv=cv, scoring=labeled_roc_auc,
                     n_jobs=n_jobs).fit(X, y).cv_results_["mean_test_score"]
        for n_jobs in (1, 2)
    ]
    np.testing.assert_array_equal(results[0], results[1])
