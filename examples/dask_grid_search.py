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
``python examples/dask_grid_search.py`` (``--quick`` for a smaller run).
The documentation shows this script without running it: the gallery runs
only the scripts whose name starts with ``plot_``.
"""

# %%
# The search
# ----------
# Deep SAD on the breast-cancer task with the Deep SAD paper's protocol
# (:func:`~skdeepad.datasets.make_semisupervised_split`): 5 % of the
# training set are labeled anomalies (``-1``), everything else is unlabeled
# (``0``), so the scorer counts the unlabeled rows as normal.
import os
import sys

import joblib
import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skdeepad import DeepSAD
from skdeepad.datasets import make_bundled_tasks, make_semisupervised_split
from skdeepad.metrics import make_labeled_scorer

QUICK = os.environ.get("SKDEEPAD_EXAMPLE_QUICK") == "1" or "--quick" in sys.argv


def make_search():
    """The grid search over Deep SAD's label weight and batch sampling."""
    epochs = 3 if QUICK else 30
    return GridSearchCV(
        DeepSAD(epochs=epochs, pretrain_epochs=epochs, lr=1e-3, device="cpu", random_state=0),
        {"eta": [0.1, 1.0, 10.0], "sampling": ["uniform", "balanced"]},
        scoring=make_labeled_scorer("roc_auc", unlabeled="normal"),
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        n_jobs=-1,
    )


# %%
# Running it on the cluster
# -------------------------
# The ``__main__`` guard matters: Dask starts its workers as new Python
# processes, which import this file again.
def main():
    from distributed import Client, LocalCluster

    X, y = make_bundled_tasks(random_state=0)["breast_cancer"]
    X_train, y_partial, X_test, y_test = make_semisupervised_split(
        X, y, ratio_labeled_anomalies=0.05, random_state=0)
    search = make_search()
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster):
        with joblib.parallel_backend("dask"):
            search.fit(X_train, y_partial)
    print("best parameters:", search.best_params_)
    print(f"validation AUC {search.best_score_:.3f}")
    test_auc = roc_auc_score(y_test, -search.score_samples(X_test))
    print(f"test AUC {test_auc:.3f}")
    print("mean validation AUC per candidate:",
          np.round(search.cv_results_["mean_test_score"], 3))
    return search, test_auc


if __name__ == "__main__":
    search, test_auc = main()
