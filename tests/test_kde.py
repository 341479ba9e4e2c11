"""KernelDensityDetector: the Deep SAD paper's KDE baseline."""

import re

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity

from skdeepad import KernelDensityDetector
from skdeepad.classical._kde import DEFAULT_BANDWIDTHS


def test_default_grid_is_the_papers():
    """Bandwidths 2^0.5, 2^1, ..., 2^5 (Appendix E)."""
    np.testing.assert_allclose(DEFAULT_BANDWIDTHS, [2 ** (k / 2) for k in range(1, 11)])


def test_bandwidth_is_the_cross_validated_log_likelihood_argmax():
    """The chosen bandwidth maximises 5-fold held-out log-likelihood, as a direct search finds."""
    X = np.random.RandomState(0).randn(150, 3) * 4
    det = KernelDensityDetector().fit(X)
    ref = GridSearchCV(KernelDensity(), {"bandwidth": DEFAULT_BANDWIDTHS}, cv=5).fit(X)
    assert det.bandwidth_ == ref.best_params_["bandwidth"]
    assert det.cv_scores_.argmax() == list(DEFAULT_BANDWIDTHS).index(det.bandwidth_)


def test_scores_are_log_density_and_known_anomalies_are_dropped():
    """score_samples is the KDE log-density of the rows not labeled -1."""
    rng = np.random.RandomState(0)
    X = np.r_[rng.randn(100, 2), rng.randn(5, 2) + 6]
    y = np.r_[np.zeros(100), -np.ones(5)]
    det = KernelDensityDetector(bandwidth=0.7).fit(X, y)
    ref = KernelDensity(bandwidth=0.7).fit(X[:100])
    np.testing.assert_allclose(det.score_samples(X), ref.score_samples(X))
    assert (det.predict(X[100:]) == -1).all()


def test_too_few_samples_for_cv_folds():
    """bandwidth='cv' with fewer samples than folds says what to do."""
    with pytest.raises(ValueError, match="needs at least 5 training samples"):
        KernelDensityDetector().fit(np.random.RandomState(0).randn(4, 2))


@pytest.mark.parametrize("bandwidth", ["cv", 1.0])
def test_identical_samples_are_refused_like_the_deep_detectors(bandwidth):
    """All-constant X raises the deep detectors' ValueError (it used to fit)."""
    from skdeepad import DeepSAD

    with pytest.raises(ValueError) as deep:
        DeepSAD(device="cpu").fit(np.ones((6, 3)))
    assert str(deep.value).startswith("All features of X are constant")
    with pytest.raises(ValueError, match=f"^{re.escape(str(deep.value))}$"):
        KernelDensityDetector(bandwidth=bandwidth).fit(np.full((10, 2), -1.0))
    X = np.full((10, 2), -1.0)
    X[3, 0] = 0.0
    assert KernelDensityDetector(bandwidth=bandwidth).fit(X).kde_ is not None
