"""Conformal p-values and FDR control (skdeepad.calibration)."""

import pickle

import numpy as np
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM
import torch
from torch import nn

import skdeepad.calibration as calibration
from skdeepad import (
    ADRA,
    AMA,
    DROCC,
    DROCCLF,
    SSAD,
    AutoEncoder,
    DeepBinaryClassifier,
    DeepSAD,
    DeepSVDD,
    KDStudentTeacher,
    KernelDensityDetector,
)
from skdeepad.calibration import CalibrationWarning, ConformalDetector
from skdeepad.ensemble import StackedEnsemble

FAST = dict(epochs=2, pretrain_epochs=1, batch_size=32, device="cpu", random_state=0)


class NormDetector(OutlierMixin, BaseEstimator):
    """Score = minus the distance to the training mean: cheap, for many repetitions."""

    def fit(self, X, y=None):
        self.seen_ = np.asarray(X)
        self.mean_ = self.seen_.mean(axis=0)
        self.offset_ = -2.0
        return self

    def score_samples(self, X):
        return -np.linalg.norm(np.asarray(X) - self.mean_, axis=1)

    def decision_function(self, X):
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        return np.where(self.decision_function(X) >= 0, 1, -1)


def _pooled_normal_p_values(randomized, cv=None, n_reps=400):
    """One fresh normal test point's p-value per repetition (i.i.d. over repetitions)."""
    rng = np.random.RandomState(0)
    p = []
    for rep in range(n_reps):
        X = rng.normal(size=(60, 3))
        cd = ConformalDetector(NormDetector(), cv=cv, calibration_size=20, fdr=None,
                               randomized=randomized, random_state=rep).fit(X)
        p.append(cd.p_values(rng.normal(size=(1, 3)))[0])
    return np.array(p)


def test_p_values_of_normal_points_are_uniform():
    # Randomised tie-breaking: exactly uniform; a KS test with a loose bound.
    p = _pooled_normal_p_values(randomized=True)
    assert stats.kstest(p, "uniform").pvalue > 1e-3
    # Deterministic p-values are super-uniform: P(p <= a) <= a at every a = k / 21.
    p = _pooled_normal_p_values(randomized=False)
    levels = np.arange(1, 21) / 21
    assert np.all(np.mean(p[:, None] <= levels, axis=0) <= levels + 0.05)
    assert p.min() == pytest.approx(1 / 21)


def test_p_values_of_one_fit_are_close_to_uniform_and_anomalies_small():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(1500, 4))
    cd = ConformalDetector(IsolationForest(random_state=0), calibration_size=500,
                           random_state=0).fit(X)
    p_normal = cd.p_values(rng.normal(size=(2000, 4)))
    assert stats.kstest(p_normal, "uniform").statistic < 0.1
    p_far = cd.p_values(rng.normal(size=(20, 4)) + 8.0)
    np.testing.assert_allclose(p_far, 1 / 501)


@pytest.mark.parametrize("cv", [None, 5])
def test_empirical_fdr_is_controlled_over_repetitions(cv):
    rng = np.random.RandomState(0)
    fdp, power = [], []
    for rep in range(150):
        X = rng.normal(size=(300, 2))
        X_test = np.r_[rng.normal(size=(180, 2)), rng.normal(size=(20, 2)) + 3.5]
        is_anomaly = np.r_[np.zeros(180, bool), np.ones(20, bool)]
        cd = ConformalDetector(NormDetector(), cv=cv, calibration_size=100, fdr=0.1,
                               random_state=rep).fit(X)
        flagged = cd.predict(X_test) == -1
        fdp.append((flagged & ~is_anomaly).sum() / max(flagged.sum(), 1))
        power.append((flagged & is_anomaly).mean() / is_anomaly.mean())
    assert np.mean(fdp) <= 0.1 + 0.02
    assert np.mean(power) > 0.5  # the control is not bought by flagging nothing


def test_decision_function_and_predict_follow_benjamini_hochberg():
    rng = np.random.RandomState(0)
    cd = ConformalDetector(NormDetector(), calibration_size=200, fdr=0.2,
                           random_state=0).fit(rng.normal(size=(400, 2)))
    X_test = np.r_[rng.normal(size=(50, 2)), rng.normal(size=(10, 2)) + 4]
    p = cd.p_values(X_test)
    adjusted = stats.false_discovery_control(p, method="bh")
    np.testing.assert_allclose(cd.adjusted_p_values(X_test), adjusted)
    labels = cd.predict(X_test)
    np.testing.assert_array_equal(labels, np.where(adjusted <= 0.2, -1, 1))
    np.testing.assert_array_equal(cd.decision_function(X_test) < 0, labels == -1)
    assert (labels[-10:] == -1).all()
    # Benjamini-Yekutieli rejects a subset of Benjamini-Hochberg's rejections.
    by = cd.set_params(method="by").predict(X_test) == -1
    assert np.all(labels[by] == -1)


def test_fdr_none_falls_back_to_the_wrapped_detector():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 2))
    cd = ConformalDetector(IsolationForest(random_state=0), fdr=None, random_state=0).fit(X)
    X_test = rng.normal(size=(30, 2)) * 2
    inner = cd.estimators_[0]
    np.testing.assert_array_equal(cd.predict(X_test), inner.predict(X_test))
    np.testing.assert_allclose(cd.decision_function(X_test), inner.decision_function(X_test))
    np.testing.assert_allclose(cd.score_samples(X_test), inner.score_samples(X_test))


def test_known_anomalies_never_calibrate_and_always_train():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 2))
    y = np.zeros(120, dtype=int)
    y[::7] = -1
    anomalies = set(np.flatnonzero(y == -1))
    for cv in (None, 4):
        cd = ConformalDetector(NormDetector(), cv=cv, calibration_size=0.5,
                               random_state=0).fit(X, y)
        for est, cal in zip(cd.estimators_, cd.calibration_indices_):
            assert not anomalies & set(cal)
            seen = {tuple(row) for row in est.seen_}
            assert all(tuple(X[i]) in seen for i in anomalies)
            assert not any(tuple(X[i]) in seen for i in cal)  # held out from training
        assert cd.n_calibration_ == sum(len(c) for c in cd.calibration_indices_)
    # Split: half of the 102 eligible rows, rounded up; cv: equal folds of 25.
    assert ConformalDetector(NormDetector(), calibration_size=0.5).fit(X, y).n_calibration_ == 51
    assert cd.n_calibration_ == 100


def test_zero_one_labels_are_refused():
    X = np.random.RandomState(0).normal(size=(50, 2))
    y = np.r_[np.zeros(45, int), np.ones(5, int)]
    with pytest.raises(ValueError, match="to_partial_labels"):
        ConformalDetector(NormDetector()).fit(X, y)


def test_cross_conformal_fits_a_stackable_detector_as_one_stack(monkeypatch):
    calls, lone_fits = [], []
    real = calibration.fit_stacked

    def counting(estimators, *args, **kwargs):
        calls.append(len(estimators))
        return real(estimators, *args, **kwargs)

    real_fit = DeepSVDD.fit

    def counting_fit(self, *args, **kwargs):
        lone_fits.append(1)
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(calibration, "fit_stacked", counting)
    monkeypatch.setattr(DeepSVDD, "fit", counting_fit)
    X = np.random.RandomState(0).normal(size=(203, 4))
    cd = ConformalDetector(DeepSVDD(**FAST), cv=5, random_state=0).fit(X)
    assert calls == [5] and not lone_fits
    assert len(cd.estimators_) == 5 and cd.n_calibration_ == 200
    # Each fold model is the lone fit on its training rows.
    rows = np.setdiff1d(np.arange(203), cd.calibration_indices_[2])
    lone = real_fit(DeepSVDD(**FAST), X[rows])
    np.testing.assert_allclose(cd.estimators_[2].score_samples(X), lone.score_samples(X),
                               rtol=1e-5, atol=1e-7)


@pytest.mark.filterwarnings("ignore::skdeepad.calibration.CalibrationWarning")
def test_too_small_calibration_sets_are_refused_or_warned_about():
    X = np.random.RandomState(0).normal(size=(40, 2))
    y = np.zeros(40, dtype=int)
    y[:30] = -1
    with pytest.raises(ValueError, match="calibration_size=10 asks for 10 calibration rows"
                                         " out of 10 unlabeled or known-normal rows"):
        ConformalDetector(NormDetector(), calibration_size=10).fit(X, y)
    with pytest.raises(ValueError, match="cv=20 folds need at least 20"):
        ConformalDetector(NormDetector(), cv=20).fit(X, y)
    with pytest.warns(CalibrationWarning, match=r"smallest p-value is 1/6 .* can never flag"):
        ConformalDetector(NormDetector(), calibration_size=5, fdr=0.1).fit(X)
    cd = ConformalDetector(NormDetector(), calibration_size=5, fdr=0.1).fit(X)
    assert (cd.predict(np.full((3, 2), 100.0)) == 1).all()  # as the warning said


@pytest.mark.filterwarnings("ignore::skdeepad.calibration.CalibrationWarning")
def test_a_failed_fit_leaves_the_detector_as_it_was():
    X = np.random.RandomState(0).normal(size=(40, 2))
    cd = ConformalDetector(NormDetector(), calibration_size=5, random_state=0).fit(X)
    before = cd.calibration_scores_[0].copy()
    with pytest.raises(ValueError):
        cd.set_params(calibration_size=40).fit(X)
    np.testing.assert_array_equal(cd.calibration_scores_[0], before)


def test_nan_scores_are_named():
    class NaNDetector(NormDetector):
        def score_samples(self, X):
            return np.full(len(X), np.nan)

    with pytest.raises(ValueError, match="NaNDetector.score_samples returned NaN"):
        ConformalDetector(NaNDetector()).fit(np.zeros((20, 2)))


def test_clone_pickle_pipeline_and_grid_search():
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal(size=(300, 3)), rng.normal(size=(15, 3)) + 4]
    y = np.r_[np.zeros(300, int), -np.ones(15, int)]
    cd = ConformalDetector(IsolationForest(n_estimators=20, random_state=0), random_state=0)
    assert cd.get_params()["estimator__n_estimators"] == 20
    assert clone(cd).set_params(estimator__n_estimators=30).estimator.n_estimators == 30
    fitted = cd.fit(X, y)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.p_values(X[:50]), fitted.p_values(X[:50]))

    pipe = make_pipeline(StandardScaler(), ConformalDetector(OneClassSVM(), random_state=0))
    # 5 tests: the far point's p-value 1/61 adjusts to 5/61 <= 0.1.
    labels = pipe.fit(X[:300]).predict(np.r_[rng.normal(size=(4, 3)), [[9, 9, 9]]])
    assert labels[-1] == -1

    def auc(est, X, y):  # known anomalies (-1) against the rest
        from sklearn.metrics import roc_auc_score
        return roc_auc_score(y == -1, -est.score_samples(X))

    search = GridSearchCV(cd, {"estimator__n_estimators": [10, 30]}, scoring=auc,
                          cv=StratifiedKFold(3, shuffle=True, random_state=0), error_score="raise")
    search.fit(X, y)
    assert np.isfinite(search.best_score_)
    assert search.best_estimator_.estimator.n_estimators in (10, 30)


def _tiny_cnn():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Unflatten(1, (1, 1, -1)), nn.Conv2d(1, 3, 3, padding=1),
                             nn.ReLU(), nn.Flatten())


DETECTORS = [
    DeepSVDD(**FAST),
    DeepSAD(**FAST),
    AutoEncoder(epochs=2, device="cpu", random_state=0),
    DROCC(epochs=2, only_ce_epochs=1, ascent_num_steps=2, device="cpu", random_state=0),
    DROCCLF(epochs=2, only_ce_epochs=1, ascent_num_steps=2, device="cpu", random_state=0),
    AMA(epochs=2, n_critic=1, neg_start_epoch=0, device="cpu", random_state=0),
    KDStudentTeacher(epochs=2, hidden_layer_sizes=(16, 16), head_dim=8, device="cpu",
                     random_state=0),
    ADRA(backbone=_tiny_cnn(), epochs=2, lr=0.01, device="cpu", random_state=0),
    DeepBinaryClassifier(epochs=2, device="cpu", random_state=0),
    SSAD(),
    KernelDensityDetector(),
    StackedEnsemble(DeepSVDD(**FAST), n_members=2, random_state=0),
    IsolationForest(random_state=0),
    OneClassSVM(),
    LocalOutlierFactor(novelty=True),
]


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: type(d).__name__)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_detector_can_be_calibrated(detector):
    rng = np.random.RandomState(0)
    X = 0.5 + 0.1 * rng.normal(size=(150, 4))
    y = np.zeros(150, dtype=int)
    y[:6] = -1  # corpus / known anomalies, for the methods that need them
    X[:6] += 1.0
    cd = ConformalDetector(detector, cv=3 if isinstance(detector, DeepSVDD) else None,
                           calibration_size=50, fdr=0.2, random_state=0).fit(X, y)
    X_test = np.r_[0.5 + 0.1 * rng.normal(size=(40, 4)), np.full((1, 4), 30.0)]
    p = cd.p_values(X_test)
    assert p.shape == (41,) and np.all(p >= 1 / (cd.n_calibration_ + 1)) and np.all(p <= 1)
    assert np.isfinite(cd.score_samples(X_test)).all()
    assert cd.predict(X_test).shape == (41,)
    assert set(np.unique(cd.predict(X_test))) <= {-1, 1}


def test_the_example_runs_and_controls_the_fdr(tmp_path, monkeypatch, capsys):
    import runpy
    from pathlib import Path

    script = Path(__file__).parents[1] / "examples" / "plot_conformal_thresholds.py"
    out = tmp_path / "conformal.png"
    monkeypatch.setattr("sys.argv", [str(script), str(out), "--quick"])
    namespace = runpy.run_path(str(script), run_name="__main__")
    assert out.stat().st_size > 0
    # The realised FDR of the conformal rule stays near or below each level.
    assert np.all(namespace["conformal_fdp"].mean(axis=0) <= namespace["levels"] + 0.05)


def test_a_pipeline_scales_each_fold_on_its_own_rows_and_stacks_its_detector(monkeypatch):
    calls = []
    real = calibration.fit_stacked
    monkeypatch.setattr(calibration, "fit_stacked",
                        lambda ests, *a, **k: calls.append(len(ests)) or real(ests, *a, **k))
    X = np.random.RandomState(0).normal(size=(120, 3)) * [1, 5, 10]
    cd = ConformalDetector(make_pipeline(StandardScaler(), DeepSVDD(**FAST)), cv=3,
                           random_state=0).fit(X)
    assert calls == [3]
    for model, cal in zip(cd.estimators_, cd.calibration_indices_):
        train = np.setdiff1d(np.arange(120), cal)
        np.testing.assert_allclose(model[0].mean_, X[train].mean(axis=0))
    assert np.isfinite(cd.p_values(X[:5])).all()
