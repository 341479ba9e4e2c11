"""
A grid search over a deep detector on a Dask cluster
====================================================

Model selection refits the same network for every candidate and fold, which
is where one machine runs out. The detectors are ordinary picklable
scikit-learn estimators, so ``GridSearchCV`` fans out under joblib's Dask
backend unchanged: here on a ``distributed.LocalCluster`` (replace it by the
address of a real cluster). Each Dask worker runs one task at a time with
one torch thread (Dask sets ``OMP_NUM_THREADS=1`` for its workers), and a
fit with a given ``random_state`` gives the same scores wherever it runs.

Needs the optional extra: ``pip install "skdeepad[dask]"``. Run it with
``python examples/dask_grid_search.py``.
"""

import joblib
import numpy as np
from distributed import Client, LocalCluster
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skdeepad import DeepSAD
from skdeepad.datasets import make_bundled_tasks, make_semisupervised_split
from skdeepad.metrics import make_labeled_scorer

if __name__ == "__main__":
    X, y = make_bundled_tasks(random_state=0)["breast_cancer"]
    X_train, y_partial, X_test, y_test = make_semisupervised_split(
        X, y, ratio_labeled_anomalies=0.05, random_state=0)
    search = GridSearchCV(
        DeepSAD(epochs=30, pretrain_epochs=30, lr=1e-3, device="cpu", random_state=0),
        {"eta": [0.1, 1.0, 10.0], "sampling": ["uniform", "balanced"]},
        # only anomalies are labeled here: count the unlabeled samples as normal
        scoring=make_labeled_scorer("roc_auc", unlabeled="normal"),
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        n_jobs=-1,
    )
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster):
        with joblib.parallel_backend("dask"):
            search.fit(X_train, y_partial)
    print("best parameters:", search.best_params_)
    print(f"validation AUC {search.best_score_:.3f}")
    print(f"test AUC {roc_auc_score(y_test, -search.score_samples(X_test)):.3f}")
    print("mean validation AUC per candidate:", np.round(search.cv_results_["mean_test_score"], 3))
