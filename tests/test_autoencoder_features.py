"""AutoEncoderFeatures: bottleneck features for the paper's hybrid baselines."""

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from skdeepad import AutoEncoder, AutoEncoderFeatures, KernelDensityDetector

FAST = dict(epochs=5, batch_size=32, device="cpu", random_state=0)


def test_features_are_the_autoencoders_bottleneck(blobs):
    """transform returns the encoder output of the same autoencoder AutoEncoder trains."""
    X, _ = blobs
    feats = AutoEncoderFeatures(**FAST).fit(X)
    ae = AutoEncoder(**FAST).fit(X)
    ae.network_.eval()
    with torch.no_grad():
        expected = ae.network_.encoder(torch.as_tensor(X, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(feats.transform(X), expected, rtol=1e-5, atol=1e-6)
    assert feats.transform(X).shape == (len(X), 4)  # 5 features: the (32, 16, 4) MLP
    assert list(feats.get_feature_names_out()) == [f"autoencoderfeatures{i}" for i in range(4)]


class _RecordsLabels(OutlierMixin, BaseEstimator):
    """A final step that keeps the y it was fitted with."""

    def fit(self, X, y=None):
        self.y_ = y
        return self


def test_hybrid_pipelines_run_and_labels_reach_the_last_step(blobs):
    """Hybrid OC-SVM, IF and KDE fit in a pipeline; partial labels reach the final step."""
    X, y = blobs
    y_partial = np.where(y == 1, -1, 0)
    for final in (OneClassSVM(nu=0.1), IsolationForest(random_state=0), KernelDensityDetector()):
        hybrid = make_pipeline(StandardScaler(), AutoEncoderFeatures(**FAST), final).fit(X)
        assert roc_auc_score(y, -hybrid.score_samples(X)) > 0.5
    recorder = make_pipeline(AutoEncoderFeatures(**FAST), _RecordsLabels()).fit(X, y_partial)
    np.testing.assert_array_equal(recorder[-1].y_, y_partial)
