"""AMA and the last, partial batch of an epoch: the package's merge, the reference's drop, and the old rule.

The training loop (``skdeepad._train.batch_slices``) merges a trailing batch
smaller than half a batch into the one before (issue 16).  The AMA reference
code drops it (``drop_last=True``); the package's earlier rule kept it as a
separate batch unless it had one row.  On ODDS thyroid (2207 training rows,
batch 128: a 31-row remainder) unsupervised AMA's AUC moved by about 10
points between the package's rules (``ama_odds.md``); this script measures
the three rules side by side on the same splits, with IsolationForest and
OC-SVM beside them.

The rule is switched by replacing ``skdeepad._train.batch_slices`` for the
duration of a fit (benchmark only: the package has one rule).  AMA's
settings are ``ama_odds.py``'s (30 epochs of batch 128, no learning-rate
decay), trained on the rows not labeled -1 of the Deep SAD protocol's split.
Nothing is chosen on test data.

    SKDEEPAD_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/ama_last_batch.py
    ... --write-only        # the md from the stored records

Writes ``benchmarks/results/ama_last_batch.{md,json}`` (harness records).
"""

import argparse
import contextlib

import torch
from sklearn.metrics import roc_auc_score

import skdeepad._train as train
from skdeepad import AMA
from skdeepad.datasets import load_odds, make_semisupervised_split

if __package__:  # python -m benchmarks.ama_last_batch
    from ._harness import (Record, environment_line, markdown_table, mean_std, read_json,
                           records_from_json, records_to_json, shallow_baselines, write_json,
                           write_markdown)
else:  # python benchmarks/ama_last_batch.py: Python puts benchmarks/ on the import path
    from _harness import (Record, environment_line, markdown_table, mean_std, read_json,
                          records_from_json, records_to_json, shallow_baselines, write_json,
                          write_markdown)

STEM = "ama_last_batch"
PROTOCOL = "deep-sad-table2 (gamma_l = 0.01, gamma_p = 0), rows not labeled -1"


def _one_row_rule(n, b):
    """The package's rule before issue 16: only a 1-row remainder joins the batch before."""
    starts = list(range(0, n, b))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return list(zip(starts, starts[1:] + [n]))


def _drop_rule(n, b):
    """The AMA reference's ``drop_last=True``: a partial remainder is left out."""
    starts = list(range(0, n, b))
    if len(starts) > 1 and n - starts[-1] < b:
        starts.pop()
        return [(a, a + b) for a in starts]
    return list(zip(starts, starts[1:] + [n]))


RULES = {
    "AMA, merge (package default)": train.batch_slices,
    "AMA, drop (reference code)": _drop_rule,
    "AMA, separate remainder (package before issue 16)": _one_row_rule,
}


@contextlib.contextmanager
def last_batch_rule(rule):
    saved = train.batch_slices
    train.batch_slices = rule
    try:
        yield
    finally:
        train.batch_slices = saved


def run(datasets, seeds):
    torch.set_num_threads(1)
    records = []
    for name in datasets:
        X, y = load_odds(name)
        for seed in range(seeds):
            X_train, y_partial, X_test, y_test = make_semisupervised_split(
                X, y, ratio_labeled_anomalies=0.01, random_state=seed)
            X_fit = X_train[y_partial != -1]
            for method, rule in RULES.items():
                with last_batch_rule(rule):
                    est = AMA(epochs=30, batch_size=128, lr_milestones=(), device="cpu",
                              random_state=seed).fit(X_fit)
                auc = 100 * roc_auc_score(y_test, -est.score_samples(X_test))
                records.append(Record(name, method, seed, PROTOCOL, "AUC (%)", float(auc),
                                      extra={"n_train": len(X_fit)}))
            records += shallow_baselines(name, seed, X_fit, X_test, y_test, PROTOCOL)
            print(name, seed, {r.method: round(r.value, 1) for r in records
                               if r.dataset == name and r.seed == seed}, flush=True)
    write_json(STEM, {"records": records_to_json(records)})


def to_markdown(records, env):
    methods = [*RULES, "IsolationForest", "OC-SVM"]
    datasets = list(dict.fromkeys(r.dataset for r in records))
    rows = []
    for name in datasets:
        cells = []
        for m in methods:
            values = [r.value for r in sorted(records, key=lambda r: r.seed)
                      if r.dataset == name and r.method == m]
            cells.append(mean_std(values) + " (" + " / ".join(f"{v:.1f}" for v in values) + ")")
        n = next(r.extra["n_train"] for r in records if r.dataset == name and "n_train" in r.extra)
        rows.append([f"{name} ({n} training rows)", *cells])
    seeds = len({r.seed for r in records})
    return "\n".join([
        "# AMA and the last partial batch of an epoch (ODDS, outside the AMA paper)",
        "",
        f"Unsupervised AMA (ama_odds.py's settings: 30 epochs of batch 128, no learning-rate "
        f"decay), AUC (%) mean ± std over {seeds} seeds, the per-seed values in brackets. "
        "Three rules for the trailing partial batch: merged into the one before when smaller "
        "than half a batch (the package's default since issue 16), dropped (the AMA reference "
        "code's drop_last=True), or kept as a batch of its own unless it has one row (the "
        "package's earlier rule). Nothing chosen on test data.",
        "",
        *markdown_table(["dataset", *methods], rows),
        "",
        "Command: `OMP_NUM_THREADS=1 SKDEEPAD_DATA=../shared/data python "
        f"benchmarks/ama_last_batch.py --seeds {seeds} --datasets {' '.join(datasets)}`",
        "",
        f"Environment: {environment_line(env)}",
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", nargs="*", default=["thyroid", "cardio"])
    parser.add_argument("--write-only", action="store_true",
                        help="rewrite the md from the stored records, fitting nothing")
    args = parser.parse_args()
    if not args.write_only:
        run(args.datasets, args.seeds)
    stored = read_json(STEM)
    md = to_markdown(records_from_json(stored["records"]), stored["environment"])
    write_markdown(STEM, md + "\n")
    print(md)


if __name__ == "__main__":
    main()
