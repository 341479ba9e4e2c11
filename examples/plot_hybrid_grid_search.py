"""
Choosing a hybrid detector's parameters with partial labels
===========================================================

The Deep SAD paper's "hybrid" baselines run a shallow detector on the
bottleneck features of an autoencoder. In scikit-learn terms that is a
pipeline, ``StandardScaler -> AutoEncoderFeatures -> SSAD``, and its
parameters can be chosen by ``GridSearchCV`` like any other model's. The
only twist is the target: ``y`` holds partial labels (``+1`` known normal,
``-1`` known anomaly, ``0`` unlabeled), so the scorer must judge each
validation fold on those labels. :data:`skdeepad.metrics.labeled_roc_auc`
does exactly that: the known anomalies are the positive class, the rest
(known normal or unlabeled) the negative one.

The data is scikit-learn's breast-cancer set turned into an anomaly task
(benign tumours normal, 5 % malignant), of which a few samples of each kind
are labeled. A toy run on 200 training rows: the printed AUCs show the
mechanics, not how hybrids compare on benchmarks (:ref:`guide-shallow`).
"""

# %%
# Data and partial labels
# -----------------------
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepad import SSAD, AutoEncoderFeatures
from skdeepad.datasets import make_bundled_tasks
from skdeepad.metrics import labeled_roc_auc

torch.set_num_threads(1)  # tiny networks: one thread is fastest on a shared CPU
QUICK = os.environ.get("SKDEEPAD_EXAMPLE_QUICK") == "1" or "--quick" in sys.argv

X, y = make_bundled_tasks(random_state=0)["breast_cancer"]  # y: 1 = anomaly
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, stratify=y,
                                                    random_state=0)

# 20 known normals and half of the training anomalies are labeled; the rest is 0.
rng = np.random.RandomState(0)
y_partial = np.zeros(len(y_train), dtype=int)
y_partial[rng.choice(np.flatnonzero(y_train == 0), 20, replace=False)] = 1
anomalies = np.flatnonzero(y_train == 1)
y_partial[rng.choice(anomalies, len(anomalies) // 2, replace=False)] = -1

# %%
# The search
# ----------
# The pipeline passes ``y`` to every step: ``AutoEncoderFeatures`` trains on
# the rows not labeled ``-1``, SSAD uses all three kinds of label. The folds
# are stratified on the partial labels so that each validation fold holds
# known anomalies to score.
hybrid = make_pipeline(
    StandardScaler(),
    AutoEncoderFeatures(hidden_layer_sizes=(16, 8), epochs=10 if QUICK else 60, lr=1e-3,
                        random_state=0),
    SSAD(),
)
grid = {"ssad__gamma": [0.01, 0.1, 1.0], "ssad__eta_l": [0.1, 1.0]}
search = GridSearchCV(hybrid, grid, scoring=labeled_roc_auc,
                      cv=StratifiedKFold(3, shuffle=True, random_state=0))
search.fit(X_train, y_partial)

test_auc = roc_auc_score(y_test, -search.score_samples(X_test))
print(f"best parameters: {search.best_params_}")
print(f"mean validation AUC (labeled samples): {search.best_score_:.3f}")
print(f"test AUC of the refitted pipeline: {test_auc:.3f}")

# %%
# Validation AUC of each candidate
# --------------------------------
fig, ax = plt.subplots(figsize=(5, 3.5))
params, scores = search.cv_results_["params"], search.cv_results_["mean_test_score"]
for eta_l in grid["ssad__eta_l"]:
    curve = [score for p, score in zip(params, scores) if p["ssad__eta_l"] == eta_l]
    gammas = [p["ssad__gamma"] for p in params if p["ssad__eta_l"] == eta_l]
    ax.plot(gammas, curve, "o-", label=f"eta_l = {eta_l}")
ax.set_xscale("log")
ax.set_xlabel("SSAD RBF gamma")
ax.set_ylabel("mean validation ROC AUC\n(labeled samples only)")
ax.set_title(f"Hybrid SSAD on breast cancer; test AUC {test_auc:.2f}")
ax.legend()
fig.tight_layout()

# %%
# ``python examples/plot_hybrid_grid_search.py figure.png`` also saves the
# figure. For a search over the deep detector's own parameters,
# :class:`~skdeepad.model_selection.StackedSearchCV` trains the candidates
# that share a network shape as one stack (:ref:`guide-stacked`).
for arg in sys.argv[1:]:
    if not arg.startswith("-"):
        fig.savefig(arg, dpi=100)
        print(f"figure saved to {arg}")
plt.show()
