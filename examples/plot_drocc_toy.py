"""
DROCC on a 2-D manifold: the annulus and the decision regions
=============================================================

:class:`~skdeepad.DROCC` (Goyal et al., 2020) assumes that normal data lie
on a low-dimensional manifold that the training set samples densely, so
that points at a small distance *off* the training points are anomalous.
During training it searches, for each training point ``x``, a point
``x + h`` with ``radius <= ||h|| <= gamma * radius`` that the classifier
currently calls normal, and trains the classifier to call it anomalous.

The data are the paper's sine curve (its Figure 1): normal points on
``(t, sin t)``, anomalies on copies of the curve shifted up or down by 0.6.
A classifier that learns the curve separates them; a detector that encloses
the whole data cloud, such as an RBF One-Class SVM, cannot. The run is a
toy (600 points, 30 epochs, 20 ascent steps instead of the paper's 50); the
benchmark of these synthetic sets is summarised in :ref:`guide-drocc`.
"""

# %%
# Data, scaled as the paper does
# ------------------------------
# ``radius`` is measured in the units of the input, so the features are
# standardised on the training data first.
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import TwoSlopeNorm
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from skdeepad import DROCC
from skdeepad.datasets import make_sine_manifold

torch.set_num_threads(1)
QUICK = os.environ.get("SKDEEPAD_EXAMPLE_QUICK") == "1" or "--quick" in sys.argv

n_train = 200 if QUICK else 600
normal_train, _ = make_sine_manifold(n_train, displacement=0.6, random_state=0)
normal_test, anomalies_test = make_sine_manifold(300, displacement=0.6, random_state=1)
scaler = StandardScaler().fit(normal_train)
X_train = scaler.transform(normal_train)
X_test = scaler.transform(np.r_[normal_test, anomalies_test])
y_test = np.r_[np.zeros(len(normal_test)), np.ones(len(anomalies_test))]  # 1 = anomaly

# %%
# Two radii and a shallow baseline
# --------------------------------
# ``radius`` is DROCC's main hyperparameter. A radius about the size of the
# gap between the curve and the anomalies lets the negatives sample that
# gap; a radius as large as the data makes the annulus skip over it. The
# other settings are the package's defaults apart from a higher learning
# rate and fewer ascent steps, to keep the run short.
drocc_params = dict(epochs=5 if QUICK else 30, lr=1e-2, ascent_num_steps=20,
                    device="cpu", random_state=0)
detectors = {
    "DROCC, radius 0.2": DROCC(radius=0.2, **drocc_params),
    "DROCC, radius 1.5": DROCC(radius=1.5, **drocc_params),
    "One-Class SVM (RBF)": OneClassSVM(gamma="scale", nu=0.1),
}
aucs = {}
for name, det in detectors.items():
    det.fit(X_train)
    aucs[name] = roc_auc_score(y_test, -det.score_samples(X_test))
forest = IsolationForest(random_state=0).fit(X_train)
aucs["IsolationForest"] = roc_auc_score(y_test, -forest.score_samples(X_test))
for name, auc in aucs.items():
    print(f"{name}: test ROC AUC = {auc:.3f}")

# %%
# Decision regions
# ----------------
# Colour: ``decision_function``, blue where the detector calls a point
# normal, red where it calls it anomalous; the black line is its threshold
# (``contamination="auto"`` flags 10 % of the training data). The two
# circles around one training point mark the annulus ``[radius, 2 radius]``
# (``gamma=2``) in which DROCC searched that point's negatives. The package
# also draws half of the negatives from annuli up to ``far_scale=16`` times
# larger, so that points far from the data score as anomalous too.
xx, yy = np.meshgrid(np.linspace(-2.3, 2.3, 230), np.linspace(-2.5, 2.5, 250))
grid = np.c_[xx.ravel(), yy.ravel()]
anchor = X_train[np.argmin(np.abs(X_train[:, 0] - 0.35))]

fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), sharex=True, sharey=True,
                         layout="constrained")
for ax, (name, det) in zip(axes, detectors.items()):
    z = det.decision_function(grid).reshape(xx.shape)
    norm = TwoSlopeNorm(vmin=min(z.min(), -1e-6), vcenter=0.0, vmax=max(z.max(), 1e-6))
    ax.contourf(xx, yy, z, levels=20, cmap="RdBu", norm=norm)
    ax.contour(xx, yy, z, levels=[0.0], colors="k", linewidths=1.2)
    ax.scatter(*X_train.T, s=4, c="k", label="training (normal)")
    ax.scatter(*X_test[y_test == 1].T, s=4, c="orange", label="test anomalies")
    if isinstance(det, DROCC):
        for r in (det.radius, det.gamma * det.radius):
            ax.add_patch(plt.Circle(anchor, r, fill=False, color="lime", linewidth=1.5))
    ax.set_title(f"{name}\ntest ROC AUC = {aucs[name]:.3f}")
    ax.set(xlim=(-2.3, 2.3), ylim=(-2.5, 2.5), aspect="equal")
    ax.set_xlabel("feature 1 (standardised)")
axes[0].set_ylabel("feature 2 (standardised)")
axes[0].legend(loc="lower left", fontsize=8, markerscale=3)

# %%
# Reading the figure
# ------------------
# With the small radius DROCC's normal region follows the curve, in pieces,
# and leaves most of the shifted copies outside; with the large radius the
# negatives never come close to the curve and the normal region swells over
# the gaps. The One-Class SVM ranks
# by density in the plane: most of the shifted curves lie inside its region.
# These AUCs come from one seed of a toy; the paper's setting (1000 points,
# 50 ascent steps) is measured in ``benchmarks/results/drocc_synthetic.md``.
#
# ``python examples/plot_drocc_toy.py figure.png`` also saves the figure.
for arg in sys.argv[1:]:
    if not arg.startswith("-"):
        fig.savefig(arg, dpi=100)
        print(f"figure saved to {arg}")
plt.show()
