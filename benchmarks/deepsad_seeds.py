"""How much of Deep SAD's seed-to-seed spread on Table 2 is the split, how much the network seed.

The paper's protocol (and ``odds_deepsad.py``) ties both to one seed: seed
``k`` is split ``k`` *and* the network's ``random_state=k``.  Here every
split ``s`` is fitted with every network seed ``r`` (``s, r`` in 0..n-1, the
``n`` fits of one split as one stack, each equal to its lone fit), Deep SAD at
its defaults, the paper's schedule.  The table gives, per set:

* the mean over the diagonal (``r = s``: the protocol's 10 seeds, the
  figure ``odds_deepsad.md`` reports) and over all ``n x n`` fits (the same
  expected AUC, estimated with a smaller standard error);
* the standard error of each mean (the grid's from the split means: the
  splits are the independent units);
* the spread of the split means (how much the split moves the AUC) and the
  mean spread within a split (how much the network seed does).

Nothing is chosen: it measures the defaults' expected AUC and its noise.

    SKDEEPAD_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/deepsad_seeds.py
    ... --datasets cardio --seeds 10 --resume
    ... --write-only        # the md from the stored records

Writes ``benchmarks/results/deepsad_seeds.{md,json}`` (harness records).
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from skdeepad import DeepSAD, fit_stacked
from skdeepad._benchmark import PAPER_TABLE2
from skdeepad.datasets import load_odds, make_semisupervised_split

if __package__:  # python -m benchmarks.deepsad_seeds
    from ._harness import (Record, environment_line, markdown_table, read_json,
                           records_from_json, records_to_json, write_json, write_markdown)
else:  # python benchmarks/deepsad_seeds.py: Python puts benchmarks/ on the import path
    from _harness import (Record, environment_line, markdown_table, read_json,
                          records_from_json, records_to_json, write_json, write_markdown)

STEM = "deepsad_seeds"
PROTOCOL = "deep-sad-table2 (gamma_l = 0.01, gamma_p = 0)"
METRIC = "AUC (%)"


def run(datasets, n, records, save):
    """Fit every (split, network seed) pair not stored yet; ``save`` after each split."""
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Features .* are constant")
    for name in datasets:
        X, y = load_odds(name)
        for split in range(n):
            done = {r.extra["network_seed"] for r in records
                    if r.dataset == name and r.seed == split}
            todo = [r for r in range(n) if r not in done]
            if not todo:
                continue
            X_train, y_partial, X_test, y_test = make_semisupervised_split(
                X, y, ratio_labeled_anomalies=0.01, random_state=split)
            tic = time.process_time()
            models = fit_stacked([DeepSAD(device="cpu", random_state=r) for r in todo],
                                 X_train, y_partial)
            cpu = time.process_time() - tic
            for r, model in zip(todo, models):
                auc = 100 * roc_auc_score(y_test, -model.score_samples(X_test))
                # seed = the split; the network seed is part of what the record is
                records.append(Record(name, f"Deep SAD (random_state={r})", split, PROTOCOL,
                                      METRIC, float(auc),
                                      extra={"network_seed": r, "stack_cpu_seconds": cpu}))
            save(records)
            print(name, "split", split, f"{cpu:.0f} s CPU", flush=True)
    return records


def summary(records, name, n):
    """The figures of one set's row (see the module docstring)."""
    grid = np.full((n, n), np.nan)
    for r in records:
        if r.dataset == name and r.seed < n and r.extra["network_seed"] < n:
            grid[r.seed, r.extra["network_seed"]] = r.value
    diagonal = np.diag(grid)
    split_means = grid.mean(axis=1)
    paper_mean, paper_std = PAPER_TABLE2["Deep SAD"][name]
    return [
        name, f"{paper_mean:.1f} ± {paper_std:.1f}",
        f"{diagonal.mean():.1f} ± {diagonal.std(ddof=1) / np.sqrt(n):.1f}",
        f"{grid.mean():.1f} ± {split_means.std(ddof=1) / np.sqrt(n):.1f}",
        f"{np.median(grid):.1f}",
        f"{split_means.std(ddof=1):.1f}", f"{grid.std(axis=1, ddof=1).mean():.1f}",
        f"{split_means.min():.1f} (split {int(split_means.argmin())})",
        f"{paper_mean - paper_std:.1f}",
    ]


def to_markdown(records, datasets, n, env):
    rows = [summary(records, name, n) for name in datasets]
    return "\n".join([
        f"# Deep SAD at its defaults: split seed against network seed ({n} x {n} fits per set)",
        "",
        "Table 2 protocol (60:40 split, gamma_l = 0.01, gamma_p = 0), the paper's schedule, "
        f"package defaults. Every split s = 0..{n - 1} fitted with every network seed "
        f"r = 0..{n - 1}; the protocol's {n} seeds are the diagonal r = s. Means ± their "
        "standard error (the grid's: from the split means, the splits being the "
        "independent units). AUC (%).",
        "",
        *markdown_table(
            ["dataset", "paper (mean ± std)", f"diagonal, {n} fits", f"grid, {n * n} fits",
             "grid median", "std of split means", "mean std within a split",
             "worst split mean", "paper mean - 1 std"],
            rows),
        "",
        f"Command: `OMP_NUM_THREADS=1 SKDEEPAD_DATA=../shared/data python "
        f"benchmarks/deepsad_seeds.py --seeds {n} --datasets {' '.join(datasets)}`",
        "",
        f"Environment: {environment_line(env)}",
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--datasets", nargs="*", default=["cardio", "satellite", "thyroid"])
    parser.add_argument("--resume", action="store_true",
                        help="keep the stored records and fit only the missing pairs")
    parser.add_argument("--write-only", action="store_true",
                        help="rewrite the md from the stored records, fitting nothing")
    args = parser.parse_args()
    stored = read_json(STEM) if args.resume or args.write_only else {}
    records = records_from_json(stored.get("records", []))
    if not args.write_only:
        records = run(args.datasets, args.seeds, records, lambda records: write_json(
            STEM, {"records": records_to_json(records)}))
        stored = read_json(STEM)
    md = to_markdown(records, args.datasets, args.seeds, stored.get("environment"))
    write_markdown(STEM, md + "\n")
    print(md)


if __name__ == "__main__":
    main()
