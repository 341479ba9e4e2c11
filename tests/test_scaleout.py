"""Model selection fanned out with joblib's Dask backend on a local cluster."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skdeepad import DeepSAD
from skdeepad.metrics import labeled_roc_auc

FAST = dict(epochs=3, pretrain_epochs=2, batch_size=32, device="cpu", random_state=0)


@pytest.mark.slow
def test_grid_search_on_a_local_dask_cluster_matches_sequential():
    """GridSearchCV under joblib's Dask backend scores exactly like a sequential run."""
    distributed = pytest.importorskip("distributed")
    import joblib

    rng = np.random.RandomState(0)
    X = np.r_[rng.randn(160, 4), rng.randn(40, 4) + 3]
    y = np.r_[np.zeros(120), np.ones(40), -np.ones(40)]
    cv = StratifiedKFold(2, shuffle=True, random_state=0)

    def search():
        return GridSearchCV(DeepSAD(**FAST), {"eta": [0.5, 2.0]}, cv=cv,
                            scoring=labeled_roc_auc, n_jobs=-1).fit(X, y)

    sequential = GridSearchCV(DeepSAD(**FAST), {"eta": [0.5, 2.0]}, cv=cv,
                              scoring=labeled_roc_auc).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), joblib.parallel_backend("dask"):
        parallel = search()
    np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"],
                                  sequential.cv_results_["mean_test_score"])
