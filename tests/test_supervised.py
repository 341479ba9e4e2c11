"""DeepBinaryClassifier: the supervised baseline of the Deep SAD paper."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skdeepad import DeepBinaryClassifier

FAST = dict(epochs=30, lr=1e-2, batch_size=64, device="cpu", random_state=0)


def test_needs_labeled_anomalies(blobs):
    """Without any y == -1 there is no positive class: a clear error."""
    X, _ = blobs
    with pytest.raises(ValueError, match=r"needs labeled anomalies \(y == -1\)"):
        DeepBinaryClassifier(**FAST).fit(X)


def test_learns_the_seen_anomaly_class_and_thresholds_at_one_half(blobs):
    """Seen anomalies are ranked last; 'auto' flags predicted probability above 0.5."""
    X, y = blobs
    det = DeepBinaryClassifier(**FAST).fit(X, np.where(y == 1, -1, 0))
    assert roc_auc_score(y, -det.score_samples(X)) > 0.95
    assert det.offset_ == 0.0
    np.testing.assert_array_equal(det.predict(X), np.where(det.score_samples(X) < 0, -1, 1))
