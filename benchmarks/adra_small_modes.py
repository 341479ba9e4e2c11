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

Writes ``benchmarks/results/adra_small_modes.{json,md,png}``.  ``--add-shallow``
fits only IsolationForest and OC-SVM on the splits of the settings recorded in
the JSON and adds them to the JSON, md and png.
"""

import argparse
import json
import pathlib
import time
import warnings

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from skdeepad import ADRA
from skdeepad._benchmark import environment, shallow_normality, write_report
from skdeepad.datasets import make_outlier_corpus
from skdeepad.networks import ResNet26
from skdeepad.pretraining import pretrain_classifier

if __package__:  # python -m benchmarks.adra_small_modes
    from .adra_mnist import RESULTS, digits_as_mnist, mnist_halves
else:  # python benchmarks/adra_small_modes.py: Python puts benchmarks/ on the import path
    from adra_mnist import RESULTS, digits_as_mnist, mnist_halves

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
             f"Environment: {record['environment']}", "",
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
    write_report(RESULTS / "adra_small_modes.md", "\n".join(lines) + "\n")
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
    fig.savefig(RESULTS / "adra_small_modes.png", dpi=120)


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
    parser.add_argument("--add-shallow", action="store_true",
                        help="add IsolationForest and OC-SVM to the existing JSON (the "
                             "settings are read from it; nothing deep is refitted)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = RESULTS / "adra_small_modes.json"
    if args.add_shallow:
        record = json.loads(path.read_text())
        st = record["settings"]
        _, (X, y) = mnist_halves(st["data_home"])
        runs = [q for q in record["runs"] if q["arm"] not in SHALLOW]
        new = shallow_runs(X, y, st["pairs"], st["ratios"], st["n_primary"])
        # New entries first, so that the JSON's diff only adds lines.
        record = {"shallow_added": environment(), **record, "runs": new + runs}
        path.write_text(json.dumps(record, indent=1))
        report(record)
        return
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
    record = {"environment": environment(), "settings": vars(args), "runs": runs}
    path.write_text(json.dumps(record, indent=1))
    report(record)


if __name__ == "__main__":
    main()
