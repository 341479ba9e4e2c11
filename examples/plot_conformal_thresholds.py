"""
Thresholds you can trust: conformal p-values and the false discovery rate
=========================================================================

A detector's ``predict`` flags a fixed share of points (its
``contamination``), whatever the data hold.
:class:`~skdeepad.calibration.ConformalDetector` flags instead the points
whose *conformal p-values* the Benjamini-Hochberg procedure rejects at a
chosen false discovery rate (FDR): among the flagged points, the expected
share of normal ones is at most ``fdr``.

Left: the p-values of a cross-conformal Deep SAD on held-out data. Normal
test points spread evenly over [0, 1] (that is what makes them valid
p-values); anomalies pile up near 0. Right: over 100 repetitions of a
synthetic problem, the realised FDR of the conformal rule stays below the
nominal level at every level, while the ``contamination`` rule's share of
false alarms is whatever the data make it. Synthetic Gaussian data; the
guarantee on real data sets is measured in :ref:`conformal`.
"""

# %%
# Data
# ----
# Normal points come from a standard Gaussian in 8 dimensions, anomalies
# from a shifted, wider one.
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.ensemble import IsolationForest

from skdeepad import DeepSAD
from skdeepad.calibration import ConformalDetector

torch.set_num_threads(1)  # small networks: one thread is fastest
# --quick or SKDEEPAD_EXAMPLE_QUICK=1: fewer epochs and repetitions (the test suite's run)
QUICK = "--quick" in sys.argv or os.environ.get("SKDEEPAD_EXAMPLE_QUICK") == "1"
rng = np.random.RandomState(0)


def make_data(n_normal, n_anomalies, dim=8):
    """Normal points from a Gaussian; anomalies from a shifted, wider one."""
    normal = rng.normal(size=(n_normal, dim))
    anomalies = rng.normal(loc=2.5, scale=1.5, size=(n_anomalies, dim))
    X = np.r_[normal, anomalies]
    return X, np.r_[np.zeros(n_normal, int), np.ones(n_anomalies, int)]


# %%
# p-values of a cross-conformal Deep SAD
# --------------------------------------
# Training data: 1000 normal points and 10 labeled anomalies (``y = -1``).
# The labeled anomalies train Deep SAD but never calibrate; the 5 fold
# models train as one stack.
X_train, truth = make_data(1000, 10)
y_train = np.where(truth == 1, -1, 0)
epochs = 5 if QUICK else 60
deep = ConformalDetector(DeepSAD(epochs=epochs, pretrain_epochs=epochs, random_state=0),
                         cv=5, fdr=0.1, random_state=0).fit(X_train, y_train)
X_test, y_test = make_data(900, 100)
p = deep.p_values(X_test)
flagged = deep.predict(X_test) == -1
fdp = (flagged & (y_test == 0)).sum() / max(flagged.sum(), 1)
power = (flagged & (y_test == 1)).sum() / (y_test == 1).sum()
print(f"Deep SAD, cv=5, fdr=0.1: {flagged.sum()} flagged, false discovery proportion "
      f"{fdp:.3f}, {100 * power:.0f} % of the anomalies found")

# %%
# Realised FDR against the nominal level, over repetitions
# --------------------------------------------------------
# An IsolationForest calibrated on 30 % of 1000 normal points, each
# repetition on fresh data with 10 % anomalies in the test set.
levels = np.array([0.02, 0.05, 0.1, 0.2, 0.3])
n_reps = 10 if QUICK else 100
conformal_fdp = np.zeros((n_reps, len(levels)))
contamination_fdp = np.zeros(n_reps)
for rep in range(n_reps):
    X, _ = make_data(1000, 0)
    X_test_r, y_test_r = make_data(450, 50)
    cd = ConformalDetector(IsolationForest(n_estimators=50, random_state=rep),
                           calibration_size=0.3, random_state=rep).fit(X)
    adjusted = cd.adjusted_p_values(X_test_r)
    for j, q in enumerate(levels):
        flagged_r = adjusted <= q
        conformal_fdp[rep, j] = (flagged_r & (y_test_r == 0)).sum() / max(flagged_r.sum(), 1)
    flagged_r = cd.estimators_[0].predict(X_test_r) == -1  # contamination="auto"
    contamination_fdp[rep] = (flagged_r & (y_test_r == 0)).sum() / max(flagged_r.sum(), 1)
print("realised FDR at", dict(zip(levels.tolist(), conformal_fdp.mean(axis=0).round(3))),
      f"; IsolationForest's own predict: {contamination_fdp.mean():.3f}")

# %%
# The figure
# ----------
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
bins = np.linspace(0, 1, 21)
left.hist(p[y_test == 0], bins=bins, density=True, alpha=0.6, label="normal test points")
left.hist(p[y_test == 1], bins=bins, density=True, alpha=0.6, label="anomalies")
left.set(xlabel="conformal p-value", ylabel="density",
         title=f"Deep SAD, cross-conformal (cv=5)\nfdr=0.1: FDP {fdp:.2f}, power {power:.2f}")
left.legend()
right.plot(levels, conformal_fdp.mean(axis=0), "o-", label="ConformalDetector (BH)")
right.plot([0, 0.32], [0, 0.32], "k:", label="nominal level")
right.axhline(contamination_fdp.mean(), color="C3", linestyle="--",
              label="IsolationForest's own predict")
right.set(xlabel="nominal FDR", ylabel=f"realised FDR (mean of {n_reps} repetitions)",
          title="IsolationForest, split conformal")
right.legend()
fig.tight_layout()

# %%
# ``python examples/plot_conformal_thresholds.py figure.png`` also saves the
# figure; ``--quick`` shrinks the run.
for arg in sys.argv[1:]:
    if not arg.startswith("-"):
        fig.savefig(arg, dpi=100)
        print(f"figure saved to {arg}")
plt.show()
