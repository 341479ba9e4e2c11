"""Fit time of SSAD's exact dual solver for n = 1k, 5k and 20k samples.

Data: the ODDS shuttle set (9 features; ``SKDEEPAD_DATA`` or a download),
standardised, a random subsample of n rows with 1 % of them labeled (half
+1 known normals, half -1 known anomalies, taken from the true classes), RBF
kernel with gamma="scale".  Two settings: the paper's defaults
(kappa = eta_u = eta_l = 1, a hard-ball SVDD on the unlabeled data) and a
soft one (eta_u = 1 / (0.1 n), like OC-SVM's nu = 0.1).  Single thread.

    SKDEEPAD_DATA=../shared/data python benchmarks/ssad_scaling.py

Writes ``benchmarks/results/ssad_scaling.md``.
"""

import argparse
import pathlib
import time

import numpy as np
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skdeepad import SSAD
from skdeepad._benchmark import environment, write_report
from skdeepad.datasets import load_odds

RESULTS = pathlib.Path(__file__).parent / "results"


def main():
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # --help only
    X, y = load_odds("shuttle")
    X = StandardScaler().fit_transform(X)
    rng = np.random.RandomState(0)
    rows = ["| n | setting | fit (s) | iterations | support vectors | dual objective |",
            "|---|---|---:|---:|---:|---:|"]
    for n in (1000, 5000, 20000):
        idx = rng.choice(len(X), n, replace=False)
        Xn, yn = X[idx], y[idx]
        labels = np.zeros(n)
        normals, anomalies = np.flatnonzero(yn == 0), np.flatnonzero(yn == 1)
        k = n // 200  # 0.5 % known normals, 0.5 % known anomalies
        labels[rng.choice(normals, k, replace=False)] = 1
        labels[rng.choice(anomalies, min(k, len(anomalies)), replace=False)] = -1
        for name, params in [("defaults (kappa = eta_u = eta_l = 1)", {}),
                             ("eta_u = 1/(0.1 n)", {"eta_u": 1 / (0.1 * n), "kappa": 0.05})]:
            with threadpool_limits(1):
                tic = time.perf_counter()
                det = SSAD(**params).fit(Xn, labels)
                dur = time.perf_counter() - tic
            rows.append(f"| {n} | {name} | {dur:.2f} | {det.n_iter_} | {len(det.support_)} | "
                        f"{det.objective_:.6g} |")
            print(rows[-1], flush=True)
    text = "\n".join(["# SSAD: fit time of the exact dual solver", "",
                      "Shuttle subsamples, 1 % labeled, RBF kernel, default tol (1e-6), 1 thread.", "",
                      *rows, "", f"Environment: {environment()}", ""])
    RESULTS.mkdir(exist_ok=True)
    write_report(RESULTS / "ssad_scaling.md", text)


if __name__ == "__main__":
    main()
