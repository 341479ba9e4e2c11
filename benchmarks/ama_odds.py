"""AMA on ODDS tabular data with the MLP family: an extension OUTSIDE the paper.

The AMA paper evaluates images only.  This script runs its MLP variant (the
encoder and generator as MLPs, the critic a spectral-normalised MLP on the
concatenation ``[x, x]`` / ``[x, G(E(x))]``; see ``skdeepad.networks``) on
four ODDS sets with the Deep SAD paper's protocol
(``make_semisupervised_split``: 60/40 split of normals and anomalies,
standardised then min-max scaled on the training split, 1 % labeled
anomalies, no pollution, one split per seed), beside Deep SVDD, Isolation
Forest and OC-SVM on the same splits.

* AMA (unsupervised): trained on the rows not labeled -1, synthetic
  negatives from the annulus (the defaults);
* AMA (labels): the paper's semi-supervised variant, the 1 % labeled
  anomalies replace the synthetic negatives;
* Deep SVDD (one-class) and OC-SVM (gamma="scale", nu=0.1), IsolationForest
  (100 trees) trained on the rows not labeled -1.

Reduced to fit a shared CPU: AMA 30 epochs of batch 128 (other settings the
defaults: n_critic = 5, lr 3e-4, negatives from epoch 11, no learning-rate
decay within 30 epochs), Deep SVDD 30 + 30 epochs (paper: 150 + 150).
Fixed in advance; nothing chosen on test data.

    OMP_NUM_THREADS=1 SKDEEPAD_DATA=../shared/data python benchmarks/ama_odds.py

Writes ``benchmarks/results/ama_odds.{md,json}``.
"""

import argparse
import json
import pathlib

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.svm import OneClassSVM

from skdeepad import AMA, DeepSVDD
from skdeepad._benchmark import environment, write_report
from skdeepad.datasets import load_odds, make_semisupervised_split

RESULTS = pathlib.Path(__file__).parent / "results"
SETS = ("cardio", "thyroid", "satimage-2", "arrhythmia")


def methods(seed):
    ama = dict(epochs=30, batch_size=128, lr_milestones=(), device="cpu", random_state=seed)
    return {
        "AMA (unsupervised)": (lambda: AMA(**ama), False),
        "AMA (1 % labels)": (lambda: AMA(**ama), True),
        "Deep SVDD": (lambda: DeepSVDD(epochs=30, pretrain_epochs=30, device="cpu",
                                       random_state=seed), False),
        "IsolationForest": (lambda: IsolationForest(random_state=seed), False),
        "OC-SVM": (lambda: OneClassSVM(gamma="scale", nu=0.1), False),
    }


def run(sets, seeds, results=None):
    """AUCs per set and method; seeds already in ``results`` are kept, not rerun."""
    results = results or {}
    data = {name: load_odds(name) for name in sets}
    for seed in seeds:  # seeds outermost: an interrupted run still covers every set
        for name, (X, y) in data.items():
            if seed < len(results.get(name, {}).get("AMA (unsupervised)", [])):
                continue
            X_train, y_partial, X_test, y_test = make_semisupervised_split(
                X, y, ratio_labeled_anomalies=0.01, random_state=seed)
            for method, (make, uses_labels) in methods(seed).items():
                est = make()
                if uses_labels:
                    est.fit(X_train, y_partial)
                else:
                    est.fit(X_train[y_partial != -1])
                auc = 100 * roc_auc_score(y_test, -est.score_samples(X_test))
                results.setdefault(name, {}).setdefault(method, []).append(auc)
            print(name, seed, {m: round(v[-1], 1) for m, v in results[name].items()},
                  flush=True)
            write(results, sets, seeds)
    return results


def write(results, sets, seeds):
    names = list(methods(0))
    lines = ["| dataset | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for s in sets:
        if s not in results:
            continue
        cells = [f"{np.mean(results[s][m]):.1f} ± {np.std(results[s][m]):.1f}"
                 if m in results[s] else "n/a" for m in names]
        n = len(next(iter(results[s].values())))
        lines.append(f"| {s} ({n} seeds) | " + " | ".join(cells) + " |")
    md = "\n".join([
        "# AMA on ODDS (MLP family) — an extension OUTSIDE the AMA paper",
        "",
        "The AMA paper has no tabular experiments; this checks the package's MLP variant "
        "(spectral-normalised MLP critic on concatenated pairs) on four ODDS sets with the "
        "Deep SAD paper's protocol (60/40 split, standardise + min-max on the training "
        "split, 1 % labeled anomalies, no pollution). AUC (%), mean ± std over seeds. "
        "**Reduced**: AMA 30 epochs of batch 128 (n_critic 5, lr 3e-4, annulus negatives "
        "from epoch 11), Deep SVDD 30 + 30 epochs (paper: 150 + 150). Settings fixed in "
        "advance; nothing chosen on test data. 'AMA (1 % labels)' is the paper's "
        "semi-supervised variant (labeled anomalies replace the synthetic negatives); all "
        "other methods train on the rows not labeled -1.",
        "",
        *lines,
        "",
        environment(),
    ])
    RESULTS.mkdir(exist_ok=True)
    write_report(RESULTS / "ama_odds.md", md + "\n")
    (RESULTS / "ama_odds.json").write_text(json.dumps(
        {"environment": environment(), "auc": results}, indent=1))
    return md


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", nargs="*", default=list(SETS))
    parser.add_argument("--resume", action="store_true",
                        help="keep the seeds of the existing JSON, run the rest")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    kept = json.loads((RESULTS / "ama_odds.json").read_text())["auc"] if args.resume else None
    results = run(args.datasets, seeds, kept)
    print(write(results, args.datasets, seeds))


if __name__ == "__main__":
    main()
