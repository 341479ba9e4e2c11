import os

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def blobs():
    """200 normal points around 0.5 in [0, 1]^5 and 10 far anomalies (y: 1 = anomaly)."""
    rng = np.random.RandomState(0)
    X = np.r_[0.5 + 0.1 * rng.randn(200, 5), 0.5 + 0.1 * rng.randn(10, 5) + 0.6]
    y = np.r_[np.zeros(200, dtype=int), np.ones(10, dtype=int)]
    return X, y


def shared_data_home():
    home = os.environ.get("SKDEEPAD_DATA")
    return home if home and os.path.isdir(home) else None
