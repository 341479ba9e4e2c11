"""
A few labeled anomalies: Deep SVDD versus Deep SAD
==================================================

Deep SVDD learns what is normal from the data alone. Deep SAD is the same
model trained with partial labels: ``y`` holds ``+1`` for a known normal
sample, ``-1`` for a known anomaly and ``0`` for an unlabeled one, and the
known anomalies are pushed away from the centre of the learned hypersphere.

The toy problem has two Gaussian blobs of normal data and, between them, a
small cluster of anomalies. Some of those anomalies hide, unlabeled, in the
training data, and only five of them are labeled. Deep SVDD drops the
labeled anomalies and never learns what they look like: its normal region
stretches from one blob to the other and covers much of the anomaly cluster.
Deep SAD, fitted on exactly the same data and labels, pushes the labeled
anomalies away from the centre of its hypersphere and cuts the cluster out of
the normal region, although it saw only five labeled samples of it. Both
detectors' ``decision_function`` is drawn (negative = outlier, the solid line
is the threshold ``decision_function = 0``), and the test ROC AUC of each is
printed and shown in the titles.

Run it with ``python examples/plot_labeled_anomalies.py [output.png]``; the
figure is saved to ``examples/labeled_anomalies.png`` by default.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed: the figure goes to a file

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from skdeepad import DeepSAD, DeepSVDD  # noqa: E402

# Networks this small gain nothing from several CPU threads, and on a busy
# machine the threads' synchronisation can make a fit many times slower.
torch.set_num_threads(1)

rng = np.random.RandomState(0)

NORMAL_CENTRES = np.array([[-2.0, 0.0], [2.0, 0.0]])
ANOMALY_CENTRE = np.array([0.0, 0.0])


def make_data(n_normal, n_anomalies):
    """Two blobs of normal data and one small cluster of anomalies between them."""
    normal = np.concatenate(
        [c + 0.5 * rng.randn(n_normal // 2, 2) for c in NORMAL_CENTRES]
    )
    anomalies = ANOMALY_CENTRE + 0.3 * rng.randn(n_anomalies, 2)
    return normal, anomalies


# Training data: 600 normal samples, 15 anomalies of which only 5 are
# labeled. Labels follow fit()'s convention: -1 known anomaly, 0 unlabeled.
normal_train, anomalies_train = make_data(600, 15)
X_train = np.concatenate([normal_train, anomalies_train])
y_train = np.zeros(len(X_train), dtype=int)
labeled = len(normal_train) + np.arange(5)  # the first five anomalies
y_train[labeled] = -1

# Test data, with ground truth in the usual 1 = anomaly, 0 = normal form.
normal_test, anomalies_test = make_data(400, 40)
X_test = np.concatenate([normal_test, anomalies_test])
y_test = np.r_[np.zeros(len(normal_test)), np.ones(len(anomalies_test))]

# Small networks and short training: the point shows within seconds on a CPU.
params = dict(
    hidden_layer_sizes=(16, 8, 4),
    epochs=30,
    pretrain_epochs=30,
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

# Evaluation grid for the contour plots.
xx, yy = np.meshgrid(np.linspace(-4.5, 4.5, 200), np.linspace(-3, 3, 140))
grid = np.c_[xx.ravel(), yy.ravel()]

fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharex=True, sharey=True,
                         layout="constrained")
for ax, (name, det) in zip(axes, detectors.items()):
    # The same X and y for both: DeepSVDD drops the rows labeled -1.
    det.fit(X_train, y_train)

    # score_samples is higher for more normal samples, while y_test has
    # 1 = anomaly: rank by the negative score.
    auc = roc_auc_score(y_test, -det.score_samples(X_test))
    print(f"{name}: test ROC AUC = {auc:.3f}")

    z = det.decision_function(grid).reshape(xx.shape)
    # Distances to the centre span orders of magnitude: colour a signed log
    # of the decision function, blue above the threshold and red below it.
    shown = np.sign(z) * np.log1p(np.abs(z) / np.median(np.abs(z)))
    norm = TwoSlopeNorm(vmin=shown.min(), vcenter=0.0, vmax=shown.max())
    filled = ax.contourf(xx, yy, shown, levels=20, cmap="RdBu", norm=norm)
    ax.contour(xx, yy, z, levels=[0.0], colors="k", linewidths=1.5)

    ax.scatter(*normal_train.T, s=8, c="0.85", edgecolors="0.25", linewidths=0.3,
               label="training: normal")
    unlabeled = anomalies_train[5:]
    ax.scatter(*unlabeled.T, s=18, c="orange", edgecolors="k", linewidths=0.4,
               label="training: unlabeled anomaly")
    ax.scatter(*X_train[labeled].T, s=140, marker="*", c="red", edgecolors="k",
               label="training: labeled anomaly (y=-1)")
    ax.scatter(*anomalies_test.T, s=20, marker="x", c="darkred",
               label="test: anomaly")
    ax.set_title(f"{name}\ntest ROC AUC = {auc:.3f}")
    ax.set_xlabel("feature 1")

axes[0].set_ylabel("feature 2")
axes[1].legend(loc="lower right", fontsize=8, framealpha=0.9)
cbar = fig.colorbar(filled, ax=axes, shrink=0.9, ticks=[])
cbar.set_label("decision_function (signed log): blue normal, red outlier")
fig.suptitle("decision_function of each detector; black line: decision_function = 0")

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name(
    "labeled_anomalies.png"
)
fig.savefig(out, dpi=100)
print(f"figure saved to {out}")
