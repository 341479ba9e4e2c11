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

    ... --resume        # keep the stored seeds, run the missing ones
    ... --write-only    # rewrite the md from the stored records

Writes ``benchmarks/results/ama_odds.{md,json}`` (the JSON: a list of
harness records, saved after every split).
"""

import argparse

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from skdeepad import AMA, DeepSVDD
from skdeepad.datasets import load_odds, make_semisupervised_split

if __package__:  # python -m benchmarks.ama_odds
    from ._harness import (Record, environment_line, group_values, read_json,
                           records_from_json, records_to_json, shallow_baselines, write_json,
                           write_markdown)
else:  # python benchmarks/ama_odds.py: Python puts benchmarks/ on the import path
    from _harness import (Record, environment_line, group_values, read_json,
                          records_from_json, records_to_json, shallow_baselines, write_json,
                          write_markdown)

STEM = "ama_odds"
SETS = ("cardio", "thyroid", "satimage-2", "arrhythmia")
PROTOCOL = "deep-sad-table2 (gamma_l = 0.01, gamma_p = 0)"
METRIC = "AUC (%)"
SHALLOW = ("IsolationForest", "OC-SVM")


def deep_methods(seed):
    """name -> (a fresh estimator, whether it sees the labels)."""
    ama = dict(epochs=30, batch_size=128, lr_milestones=(), device="cpu", random_state=seed)
    return {
        "AMA (unsupervised)": (lambda: AMA(**ama), False),
        "AMA (1 % labels)": (lambda: AMA(**ama), True),
        "Deep SVDD": (lambda: DeepSVDD(epochs=30, pretrain_epochs=30, device="cpu",
                                       random_state=seed), False),
    }


METHODS = (*deep_methods(0), *SHALLOW)


def run(sets, seeds, records, save):
    """Add the records of every (set, seed) not stored yet; ``save`` after each split."""
    data = {name: load_odds(name) for name in sets}
    for seed in seeds:  # seeds outermost: an interrupted run still covers every set
        for name, (X, y) in data.items():
            if any(r.dataset == name and r.seed == seed for r in records):
                continue
            X_train, y_partial, X_test, y_test = make_semisupervised_split(
                X, y, ratio_labeled_anomalies=0.01, random_state=seed)
            for method, (make, uses_labels) in deep_methods(seed).items():
                est = make()
                if uses_labels:
                    est.fit(X_train, y_partial)
                else:
                    est.fit(X_train[y_partial != -1])
                auc = 100 * roc_auc_score(y_test, -est.score_samples(X_test))
                records.append(Record(name, method, seed, PROTOCOL, METRIC, float(auc)))
            records += shallow_baselines(name, seed, X_train[y_partial != -1], X_test, y_test,
                                         PROTOCOL, SHALLOW)
            print(name, seed, {r.method: round(r.value, 1) for r in records
                               if r.dataset == name and r.seed == seed}, flush=True)
            save(records)
    return records


def to_markdown(records, sets, env):
    groups = group_values(records, METRIC)
    lines = ["| dataset | " + " | ".join(METHODS) + " |", "|---|" + "---|" * len(METHODS)]
    for s in sets:
        if not any(d == s for d, _ in groups):
            continue
        cells = [f"{np.mean(groups[s, m]):.1f} ± {np.std(groups[s, m]):.1f}"
                 if (s, m) in groups else "n/a" for m in METHODS]
        n = len(groups[s, METHODS[0]])
        lines.append(f"| {s} ({n} seeds) | " + " | ".join(cells) + " |")
    return "\n".join([
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
        environment_line(env),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", nargs="*", default=list(SETS))
    parser.add_argument("--resume", action="store_true",
                        help="keep the seeds of the existing JSON, run the rest")
    parser.add_argument("--write-only", action="store_true",
                        help="rewrite the md from the stored records, fitting nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    stored = read_json(STEM) if args.resume or args.write_only else {}
    records = records_from_json(stored.get("records", []))
    if not args.write_only:
        records = run(args.datasets, range(args.seeds), records, lambda records: write_json(
            STEM, {"records": records_to_json(records)}))
        stored = read_json(STEM)
    md = to_markdown(records, args.datasets, stored.get("environment"))
    write_markdown(STEM, md + "\n")
    print(md)


if __name__ == "__main__":
    main()
