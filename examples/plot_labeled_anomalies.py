"""
A few labeled anomalies: Deep SVDD versus Deep SAD
==================================================

Deep SVDD learns what is normal from the data alone. Deep SAD is the same
model trained with partial labels: ``y`` holds ``+1`` for a known normal
sample, ``-1`` for a known anomaly and ``0`` for an unlabeled one, and the
known anomalies are pushed away from the centre of the learned hypersphere.

The toy problem has two Gaussian blobs of normal data and, between them, a
small cluster of anomalies. Some of those anomalies hide, unlabeled, in the
training data, and only five of them are labeled. Both detectors get exactly
the same data and labels; Deep SVDD drops the labeled rows, Deep SAD learns
from them.

This is a toy run with small networks and 30 epochs, to show the mechanism
in seconds; it says nothing about the paper's benchmarks (see
:ref:`guide-deep-sad` for those).
"""

# %%
# The data
# --------
# 600 normal training samples in two blobs and 15 anomalies between them, of
# which only the first five are labeled. Labels follow ``fit``'s convention:
# ``-1`` known anomaly, ``0`` unlabeled. The test set has its ground truth in
# the usual ``1 = anomaly, 0 = normal`` form of scikit-learn's metrics.
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import TwoSlopeNorm
from sklearn.metrics import roc_auc_score

from skdeepad import DeepSAD, DeepSVDD

# Networks this small gain nothing from several CPU threads.
torch.set_num_threads(1)
# SKDEEPAD_EXAMPLE_QUICK=1 (or --quick) shrinks the run, for the test suite.
QUICK = os.environ.get("SKDEEPAD_EXAMPLE_QUICK") == "1" or "--quick" in sys.argv

rng = np.random.RandomState(0)
NORMAL_CENTRES = np.array([[-2.0, 0.0], [2.0, 0.0]])
ANOMALY_CENTRE = np.array([0.0, 0.0])


def make_data(n_normal, n_anomalies):
    """Two blobs of normal data and one small cluster of anomalies between them."""
    normal = np.concatenate([c + 0.5 * rng.randn(n_normal // 2, 2) for c in NORMAL_CENTRES])
    anomalies = ANOMALY_CENTRE + 0.3 * rng.randn(n_anomalies, 2)
    return normal, anomalies


normal_train, anomalies_train = make_data(600, 15)
X_train = np.concatenate([normal_train, anomalies_train])
y_train = np.zeros(len(X_train), dtype=int)
labeled = len(normal_train) + np.arange(5)  # the first five anomalies
y_train[labeled] = -1

normal_test, anomalies_test = make_data(400, 40)
X_test = np.concatenate([normal_test, anomalies_test])
y_test = np.r_[np.zeros(len(normal_test)), np.ones(len(anomalies_test))]

# %%
# Two detectors, one set of parameters
# ------------------------------------
# Small networks and short training. ``contamination=0.05`` sets the
# threshold ``offset_`` so that 5 % of the training data are flagged; it
# does not change the scores, and so not the ROC AUC.
epochs = 5 if QUICK else 30
params = dict(
    hidden_layer_sizes=(16, 8, 4),
    epochs=epochs,
    pretrain_epochs=epochs,
    lr=1e-3,
    lr_milestones=(),
    batch_size=64,
    contamination=0.05,
    device="cpu",
    random_state=0,
)
detectors = {
    "Deep SVDD (unsupervised)": DeepSVDD(**params),
    "Deep SAD (5 labeled anomalies)": DeepSAD(**params),
}

# %%
# Fit, score and draw
# -------------------
# ``score_samples`` is higher for more normal samples while ``y_test`` has
# ``1 = anomaly``, so the ROC AUC ranks by the *negative* score. The colour is
# ``decision_function`` (negative = outlier); the black line is the threshold
# ``decision_function = 0``.
xx, yy = np.meshgrid(np.linspace(-4.5, 4.5, 200), np.linspace(-3, 3, 140))
grid = np.c_[xx.ravel(), yy.ravel()]

aucs = {}
fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharex=True, sharey=True,
                         layout="constrained")
for ax, (name, det) in zip(axes, detectors.items()):
    det.fit(X_train, y_train)  # the same X and y: DeepSVDD drops the rows labeled -1
    aucs[name] = roc_auc_score(y_test, -det.score_samples(X_test))
    print(f"{name}: test ROC AUC = {aucs[name]:.3f}")

    z = det.decision_function(grid).reshape(xx.shape)
    # Distances to the centre span orders of magnitude: colour a signed log.
    shown = np.sign(z) * np.log1p(np.abs(z) / np.median(np.abs(z)))
    norm = TwoSlopeNorm(vmin=shown.min(), vcenter=0.0, vmax=shown.max())
    filled = ax.contourf(xx, yy, shown, levels=20, cmap="RdBu", norm=norm)
    ax.contour(xx, yy, z, levels=[0.0], colors="k", linewidths=1.5)

    ax.scatter(*normal_train.T, s=8, c="0.85", edgecolors="0.25", linewidths=0.3,
               label="training: normal")
    ax.scatter(*anomalies_train[5:].T, s=18, c="orange", edgecolors="k", linewidths=0.4,
               label="training: unlabeled anomaly")
    ax.scatter(*X_train[labeled].T, s=140, marker="*", c="red", edgecolors="k",
               label="training: labeled anomaly (y=-1)")
    ax.scatter(*anomalies_test.T, s=20, marker="x", c="darkred", label="test: anomaly")
    ax.set_title(f"{name}\ntest ROC AUC = {aucs[name]:.3f}")
    ax.set_xlabel("feature 1")

axes[0].set_ylabel("feature 2")
axes[1].legend(loc="lower right", fontsize=8, framealpha=0.9)
cbar = fig.colorbar(filled, ax=axes, shrink=0.9, ticks=[])
cbar.set_label("decision_function (signed log): blue normal, red outlier")
fig.suptitle("decision_function of each detector; black line: decision_function = 0")

# %%
# Reading the figure
# ------------------
# Deep SVDD never learns what the anomalies look like: its normal region
# stretches from one blob to the other and covers much of the anomaly
# cluster. Deep SAD cuts the cluster out of the normal region, although it
# saw only five labeled samples of it. The printed AUCs are those of this one
# seed and this toy; on real data the gain from labeled anomalies is smaller
# and depends on the training budget (:ref:`guide-deep-sad`).
#
# From the command line, ``python examples/plot_labeled_anomalies.py
# figure.png`` also saves the figure.
for arg in sys.argv[1:]:
    if not arg.startswith("-"):
        fig.savefig(arg, dpi=100)
        print(f"figure saved to {arg}")
plt.show()
