"""Fit time of SSAD's exact dual solver for n = 1k, 5k and 20k samples.

Data: the ODDS shuttle set (9 features; ``SKDEEPAD_DATA`` or a download),
standardised, a random subsample of n rows with 1 % of them labeled (half
+1 known normals, half -1 known anomalies, taken from the true classes), RBF
kernel with gamma="scale".  Two settings: the paper's defaults
(kappa = eta_u = eta_l = 1, a hard-ball SVDD on the unlabeled data) and a
soft one (eta_u = 1 / (0.1 n), like OC-SVM's nu = 0.1).  Single thread.

    SKDEEPAD_DATA=../shared/data python benchmarks/ssad_scaling.py
    ... --write-only        # the md from the stored records

Writes ``benchmarks/results/ssad_scaling.{md,json}`` (harness records: the fit
seconds, with the iterations, support vectors and dual objective in
``extra``).
"""

import argparse
import time

import numpy as np
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skdeepad import SSAD
from skdeepad.datasets import load_odds

if __package__:  # python -m benchmarks.ssad_scaling
    from ._harness import (Record, environment_line, read_json, records_from_json,
                           records_to_json, write_json, write_markdown)
else:  # python benchmarks/ssad_scaling.py: Python puts benchmarks/ on the import path
    from _harness import (Record, environment_line, read_json, records_from_json,
                          records_to_json, write_json, write_markdown)

STEM = "ssad_scaling"
PROTOCOL = "shuttle subsample, standardised, 1 % labeled, RBF gamma='scale', tol 1e-6"
SETTINGS = [("defaults (kappa = eta_u = eta_l = 1)", lambda n: {}),
            ("eta_u = 1/(0.1 n)", lambda n: {"eta_u": 1 / (0.1 * n), "kappa": 0.05})]


def run():
    X, y = load_odds("shuttle")
    X = StandardScaler().fit_transform(X)
    rng = np.random.RandomState(0)
    records = []
    for n in (1000, 5000, 20000):
        idx = rng.choice(len(X), n, replace=False)
        Xn, yn = X[idx], y[idx]
        labels = np.zeros(n)
        normals, anomalies = np.flatnonzero(yn == 0), np.flatnonzero(yn == 1)
        k = n // 200  # 0.5 % known normals, 0.5 % known anomalies
        labels[rng.choice(normals, k, replace=False)] = 1
        labels[rng.choice(anomalies, min(k, len(anomalies)), replace=False)] = -1
        for name, params in SETTINGS:
            with threadpool_limits(1):
                tic = time.perf_counter()
                det = SSAD(**params(n)).fit(Xn, labels)
                dur = time.perf_counter() - tic
            records.append(Record(f"shuttle, n = {n}", name, 0, PROTOCOL, "fit s", dur, dur,
                                  {"n": n, "iterations": int(det.n_iter_),
                                   "support_vectors": len(det.support_),
                                   "dual_objective": float(det.objective_)}))
            print(records[-1], flush=True)
    write_json(STEM, {"records": records_to_json(records)})


def to_markdown(records, env):
    rows = ["| n | setting | fit (s) | iterations | support vectors | dual objective |",
            "|---|---|---:|---:|---:|---:|"]
    rows += [f"| {r.extra['n']} | {r.method} | {r.value:.2f} | {r.extra['iterations']} | "
             f"{r.extra['support_vectors']} | {r.extra['dual_objective']:.6g} |" for r in records]
    return "\n".join(["# SSAD: fit time of the exact dual solver", "",
                      "Shuttle subsamples, 1 % labeled, RBF kernel, default tol (1e-6), 1 thread.",
                      "", *rows, "", f"Environment: {environment_line(env)}", ""])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-only", action="store_true",
                        help="rewrite the md from the stored records, fitting nothing")
    args = parser.parse_args()
    if not args.write_only:
        run()
    stored = read_json(STEM)
    write_markdown(STEM, to_markdown(records_from_json(stored["records"]),
                                     stored["environment"]))


if __name__ == "__main__":
    main()
