"""Robustness to small modes (ADRA paper, Fig. 2), in the MNIST miniature.

The normal class is a pair of digits (a, b) with b under-represented:
S_n ~ P_a + r P_b.  For each r the detector is trained (same backbone,
corpus and settings as ``adra_mnist.py``) and the AUC is measured separately
for the secondary class b (held-out b images as normal vs the digits outside
the pair) and the primary class a, and reported relative to r = 1, for
random initialisation (scratch), full finetuning and ADRA K = 2.  The paper
finds ADRA's secondary-class AUC falls off least as r shrinks.  Beside them,
IsolationForest (100 trees) and OC-SVM (RBF, gamma="scale", nu = 0.1) on the
raw pixels of the same normal training images (the corpus is left out: they
are unsupervised), as in ``adra_mnist.py``.

Run after ``adra_mnist.py`` (it reuses its cached backbone)::

    SKDEEPAD_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/adra_small_modes.py

    python benchmarks/adra_small_modes.py --write-only   # md and png from the JSON

Writes ``benchmarks/results/adra_small_modes.{json,md,png}``.  The JSON holds
the run's settings and harness records: per pair (a, b), ratio r and arm, a
"secondary AUC (%)" and a "primary AUC (%)" record (seed 0, the deep arms'
seconds of fit and scoring as ``fit_seconds``; pair, r and the shallow arms'
image counts in ``extra``).  ``--write-only`` rewrites the md and png from the
JSON, fitting nothing.
"""

import argparse
import pathlib
import time
import warnings

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from skdeepad import ADRA
from skdeepad._benchmark import shallow_normality
from skdeepad.datasets import make_outlier_corpus
from skdeepad.networks import ResNet26
from skdeepad.pretraining import pretrain_classifier

if __package__:  # python -m benchmarks.adra_small_modes
    from ._harness import (RESULTS, Record, environment_line, read_json, records_from_json,
                           records_to_json, write_json, write_markdown)
    from .adra_mnist import digits_as_mnist, mnist_halves
else:  # python benchmarks/adra_small_modes.py: Python puts benchmarks/ on the import path
    from _harness import (RESULTS, Record, environment_line, read_json, records_from_json,
                          records_to_json, write_json, write_markdown)
    from adra_mnist import digits_as_mnist, mnist_halves

STEM = "adra_small_modes"
PROTOCOL = "a + r b normal training images; held-out b or a vs 800 other digits"
#: The two AUCs of a run and their records' metric.
METRICS = {"secondary": "secondary AUC (%)", "primary": "primary AUC (%)"}

ARMS = {"scratch": dict(mode="scratch", n_adapters=1),
        "finetune": dict(mode="finetune", n_adapters=1),
        "ADRA K=2": dict(mode="adra", n_adapters=2)}
SHALLOW = ("IsolationForest", "OC-SVM")


def pair_split(y, a, b, n_primary):
    """Primary training / test, secondary pool / test and the 800 other-digit test images."""
    rng = np.random.RandomState(100 * a + b)
    idx_a = rng.permutation(np.flatnonzero(y == a))
    idx_b = rng.permutation(np.flatnonzero(y == b))
    train_a, test_a = idx_a[:n_primary], idx_a[int(0.7 * len(idx_a)):]
    pool_b, test_b = idx_b[: int(0.7 * len(idx_b))], idx_b[int(0.7 * len(idx_b)):]
    others = np.flatnonzero((y != a) & (y != b))
    others = rng.choice(others, 800, replace=False)
    return train_a, test_a, pool_b, test_b, others


def secondary_primary(scores, test_b, test_a, others):
    """AUC (%) of held-out b and of held-out a against the other digits.

    ``scores(idx)``: anomaly scores of the images ``X[idx]``.
    """
    s_others = scores(others)
    aucs = {}
    for name, test in (("secondary", test_b), ("primary", test_a)):
        s = scores(test)
        truth = np.r_[np.zeros(len(s)), np.ones(len(s_others))]
        aucs[name] = 100 * roc_auc_score(truth, np.r_[s, s_others])
    return aucs


def shallow_runs(X, y, pairs, ratios, n_primary):
    """IsolationForest and OC-SVM on the raw pixels of the same normal training images."""
    runs = []
    for pair in pairs:
        a, b = (int(v) for v in pair.split(","))
        train_a, test_a, pool_b, test_b, others = pair_split(y, a, b, n_primary)
        for r in ratios:
            train = np.r_[train_a, pool_b[: max(1, round(r * n_primary))]]
            # Anomaly scores of all 10k-half images, looked up by index below.
            for arm, normality in shallow_normality(X[train], X, 0).items():
                aucs = secondary_primary(lambda idx: -normality[idx], test_b, test_a, others)
                runs.append({"pair": [a, b], "r": r, "arm": arm, **aucs,
                             "n_train": len(train), "n_test": [len(test_b), len(test_a),
                                                               len(others)]})
                print(runs[-1], flush=True)
    return runs


def runs_to_records(runs):
    """Two records per run (secondary and primary AUC), sharing the run's seconds."""
    records = []
    for q in runs:
        a, b = q["pair"]
        extra = {k: v for k, v in q.items() if k not in ("arm", "seconds", *METRICS)}
        records += [Record(f"MNIST digits {a}/{b}, r = {q['r']}", q["arm"], 0, PROTOCOL,
                           metric, float(q[k]), q.get("seconds"), extra)
                    for k, metric in METRICS.items()]
    return records


def records_to_runs(records):
    """The runs the report reads (pair, r, arm, secondary, primary, ...), from the records."""
    runs = {}
    for r in records:
        q = runs.setdefault((r.dataset, r.method), {"arm": r.method, **r.extra})
        q[next(k for k, metric in METRICS.items() if metric == r.metric)] = r.value
        if r.fit_seconds is not None:
            q["seconds"] = r.fit_seconds
    return list(runs.values())


def load():
    """The stored run, its records as the runs the report reads."""
    stored = read_json(STEM)
    runs = records_to_runs(records_from_json(stored.pop("records")))
    return {**stored, "runs": runs}


def store(record):
    """Write a run (``environment``, ``settings``, ``runs``, ...) with its runs as records."""
    write_json(STEM, {**{k: v for k, v in record.items() if k != "runs"},
                      "records": records_to_json(runs_to_records(record["runs"]))})


def report(record):
    """Write the md and png of ``record`` (the JSON's content)."""
    settings, runs = record["settings"], record["runs"]
    arms = [arm for arm in (*ARMS, *SHALLOW) if any(q["arm"] == arm for q in runs)]
    added = record.get("shallow_added")
    lines = ["# ADRA: robustness to small modes (paper Fig. 2), MNIST miniature", "",
             f"Normal class = digit a + a fraction r of digit b ({settings['n_primary']} "
             "images of a). Same backbone (ResNet26 pretrained on load_digits), corpus and "
             f"settings as adra_mnist.py ({settings['epochs']} epochs); one seed. AUC (%) of "
             "held-out b (secondary) or a (primary) images against 800 images of the other "
             "digits; in brackets the ratio to r = 1 (the quantity of the paper's Fig. 2).", "",
             "IsolationForest (100 trees, random_state = 0) and OC-SVM (RBF, gamma='scale', "
             "nu=0.1), untuned, on the raw pixels of the same normal training images (a + r b; "
             "the corpus, which only the deep arms use as negatives, left out) and the same "
             "test images."
             + (f" They were added afterwards with `--add-shallow` ({added}): same settings "
                "and splits (recomputed from the settings recorded in the JSON), the deep "
                "numbers are those of the original run." if added else ""), "",
             f"Environment: {environment_line(record['environment'])}", "",
             "| pair (a, b) | r | " + " | ".join(f"{arm} secondary" for arm in arms) + " | "
             + " | ".join(f"{arm} primary" for arm in arms) + " |",
             "|---|---|" + "---|" * (2 * len(arms))]
    for pair in settings["pairs"]:
        a, b = (int(v) for v in pair.split(","))
        ref = {(q["arm"], k): q[k] for q in runs if q["pair"] == [a, b] and q["r"] == 1.0
               for k in ("secondary", "primary")}
        for r in settings["ratios"]:
            cells = []
            for k in ("secondary", "primary"):
                for arm in arms:
                    q = next(q for q in runs
                             if q["pair"] == [a, b] and q["r"] == r and q["arm"] == arm)
                    rel = f" ({q[k] / ref[(arm, k)]:.2f})" if (arm, k) in ref else ""
                    cells.append(f"{q[k]:.1f}{rel}")
            lines.append(f"| ({a}, {b}) | {r} | " + " | ".join(cells) + " |")
    write_markdown(STEM, "\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    pairs = settings["pairs"]
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.5 * len(pairs), 3.6), squeeze=False)
    for ax, pair in zip(axes[0], pairs):
        a, b = (int(v) for v in pair.split(","))
        for arm, marker in zip(arms, "o^sDv"):
            qs = sorted((q for q in runs if q["pair"] == [a, b] and q["arm"] == arm),
                        key=lambda q: q["r"])
            ref = next((q for q in qs if q["r"] == 1.0), qs[-1])
            line, = ax.plot([q["r"] for q in qs], [q["secondary"] / ref["secondary"] for q in qs],
                            marker=marker, label=arm)
            ax.plot([q["r"] for q in qs], [q["primary"] / ref["primary"] for q in qs],
                    ls="--", color=line.get_color())
        ax.set_xscale("log")
        ax.set_xlabel("r (fraction of secondary digit b)")
        ax.set_ylabel("AUC relative to r = 1")
        ax.set_title(f"a = {a}, b = {b} (solid: b, dashed: a)", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{STEM}.png", dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", nargs="*", default=["1,7", "3,8"])
    parser.add_argument("--ratios", type=float, nargs="*", default=[0.05, 0.2, 1.0])
    parser.add_argument("--n-primary", type=int, default=150)
    parser.add_argument("--widths", type=int, nargs=3, default=[8, 16, 32])
    parser.add_argument("--pretrain-epochs", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n-corpus", type=int, default=2000)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--cache-dir", default="/tmp/skdeepad_adra_cache")
    parser.add_argument("--write-only", action="store_true",
                        help="only rewrite the md and png from the JSON, fitting nothing")
    args = parser.parse_args()
    if args.write_only:
        report(load())
        return
    torch.set_num_threads(1)
    widths = tuple(args.widths)
    tag = f"w{'-'.join(map(str, widths))}_e{args.pretrain_epochs}"
    backbone_path = pathlib.Path(args.cache_dir) / f"backbone_digits_{tag}.pt"
    if backbone_path.exists():
        backbone = ResNet26.from_state_dict(torch.load(backbone_path, weights_only=True))
    else:
        Xd, yd = digits_as_mnist()
        backbone = pretrain_classifier(ResNet26(1, widths), Xd, yd, epochs=args.pretrain_epochs,
                                       device="cpu", random_state=0)
        backbone_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(backbone.state_dict(), backbone_path)
    _, (X, y) = mnist_halves(args.data_home)
    corpus, _ = make_outlier_corpus(args.n_corpus, random_state=0)
    milestones = (round(args.epochs * 2 / 3), round(args.epochs * 5 / 6))
    runs = []
    for pair in args.pairs:
        a, b = (int(v) for v in pair.split(","))
        train_a, test_a, pool_b, test_b, others = pair_split(y, a, b, args.n_primary)
        for r in args.ratios:
            train = np.r_[train_a, pool_b[: max(1, round(r * args.n_primary))]]
            X_fit = np.concatenate([X[train], corpus])
            y_fit = np.r_[np.zeros(len(train)), -np.ones(len(corpus))]
            for arm, kw in ARMS.items():
                tic = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    det = ADRA(backbone=backbone, epochs=args.epochs, lr_milestones=milestones,
                               device="cpu", random_state=0, **kw).fit(X_fit, y_fit)
                aucs = secondary_primary(lambda idx: -det.score_samples(X[idx]),
                                         test_b, test_a, others)
                runs.append({"pair": [a, b], "r": r, "arm": arm, **aucs,
                             "seconds": time.perf_counter() - tic})
                print(runs[-1], flush=True)
    runs += shallow_runs(X, y, args.pairs, args.ratios, args.n_primary)
    settings = {k: v for k, v in vars(args).items() if k != "write_only"}
    record = {"environment": environment_line(), "settings": settings, "runs": runs}
    store(record)
    report(record)


if __name__ == "__main__":
    main()
