"""Which side of the training R-distribution do OOD sets fall on? A-score vs R-score.

The paper's CIFAR-10 -> SVHN result (Table 1: AUROC 0.958 with the A-score,
0.442 with the raw R-score) comes from OOD data whose R is *lower* than the
normal data's: ranking by R calls them normal, while the A-score (the
likelihood of R under a Gaussian fitted on the training R) flags both tails.
This miniature rebuilds the mechanism offline with one OOD set on each side:

* normal: MNIST digits (all ten), trained on ``--n-train`` images of the
  10k MNIST test split and tested on 1000 other images of it;
* "simple" OOD: ``sklearn.datasets.load_digits`` (8x8, 17 grey levels),
  upsampled bilinearly to 28x28: blurry, low-detail digits;
* "textured" OOD: 28x28 grey crops at random positions of
  ``sklearn.datasets.load_sample_images()`` (two photographs).

AMA is the reduced miniature of ``ama_mnist.py`` (1/16 widths, code size
32, n_critic = 2, 8 epochs); settings fixed in advance, nothing chosen on
the OOD sets.  Pixels in [-1, 1].  Beside it, IsolationForest (100 trees)
and OC-SVM (RBF, gamma="scale", nu = 0.1) on the same flattened pixels of
the same training and test images.

    OMP_NUM_THREADS=1 SKDEEPAD_DATA=../shared/data python benchmarks/ama_ood.py

    python benchmarks/ama_ood.py --write-only   # md and png from the JSON

Writes ``benchmarks/results/ama_ood.{md,json,png}``.  The JSON holds the
settings (``n_train``, ``n_crops``), harness records and the first seed's
R-scores that the png plots (``"r_scores"``).  Records, per seed: AMA's
"mean R" on "MNIST train" (with its "std R") and "MNIST test"; per OOD set
(the dataset), the "AUROC" of "AMA A-score", "AMA R-score", "AMA pixel L1",
"IsolationForest" and "OC-SVM" and AMA's "mean R", the set's size in
``extra``.  ``--write-only`` rewrites the md, and the png if the JSON holds
the R-scores, fitting nothing (the committed JSON predates them: its png is
left as it is).
"""

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits, load_sample_images
from sklearn.metrics import roc_auc_score

from skdeepad import AMA
from skdeepad._ama import gaussian_log_density
from skdeepad._benchmark import shallow_normality
from skdeepad.inspection import reconstruction_error

if __package__:  # python -m benchmarks.ama_ood
    from ._harness import (RESULTS, Record, environment_line, read_json, records_from_json,
                           records_to_json, write_json, write_markdown)
    from .ama_mnist import AMA_MINI, load_data
else:  # python benchmarks/ama_ood.py: Python puts benchmarks/ on the import path
    from _harness import (RESULTS, Record, environment_line, read_json, records_from_json,
                          records_to_json, write_json, write_markdown)
    from ama_mnist import AMA_MINI, load_data

STEM = "ama_ood"


def simple_ood():
    """load_digits upsampled to 28x28, in [-1, 1]."""
    x = torch.as_tensor(load_digits().images / 16.0, dtype=torch.float32)[:, None]
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    return (x.clamp(0, 1) * 2 - 1).numpy()


def textured_ood(n, seed):
    """Random 28x28 grey crops of scikit-learn's two sample photographs, in [-1, 1]."""
    rng = np.random.RandomState(seed)
    images = [img.mean(axis=2) / 255.0 for img in load_sample_images().images]
    crops = []
    for i in range(n):
        img = images[i % len(images)]
        r, c = rng.randint(img.shape[0] - 28), rng.randint(img.shape[1] - 28)
        crops.append(img[r:r + 28, c:c + 28])
    return (np.stack(crops)[:, None] * 2 - 1).astype(np.float32)


def data(seed, n_train, n_crops):
    """Pixels in [-1, 1], the seed's training and normal test indices, the OOD sets."""
    X, _ = load_data()
    X = X * 2 - 1
    ood = {"load_digits (simple)": simple_ood(),
           "photo crops (textured)": textured_ood(n_crops, seed)}
    perm = np.random.RandomState(seed).permutation(len(X))
    return X, perm[:n_train], perm[n_train:n_train + 1000], ood


def shallow_aucs(X_train, X_normal, ood, seed):
    """AUROC (OOD positive) of IsolationForest and OC-SVM fit on ``X_train``, per OOD set."""
    X_test = np.concatenate([X_normal, *ood.values()])
    scores = shallow_normality(X_train, X_test, seed)
    out, start = {}, len(X_normal)
    for name, X_ood in ood.items():
        part = np.r_[np.arange(len(X_normal)), start + np.arange(len(X_ood))]
        y = np.r_[np.zeros(len(X_normal)), np.ones(len(X_ood))]
        out[name] = {m: roc_auc_score(y, -s[part]) for m, s in scores.items()}
        start += len(X_ood)
    return out


def run(seeds, n_train, n_crops):
    """Fit AMA and the baselines per seed; write the results after every seed."""
    rows, dists = [], {}
    stored = {"environment": environment_line(),
              "settings": {"n_train": n_train, "n_crops": n_crops}}
    for seed in seeds:
        X, train, test, ood = data(seed, n_train, n_crops)
        det = AMA(random_state=seed, **AMA_MINI).fit(X[train])
        r_normal = det.r_score(X[test])
        row = {"seed": seed, "r_mean_train": det.r_mean_, "r_std_train": det.r_std_,
               "r_mean_normal_test": float(r_normal.mean())}
        dists[seed] = {"train": det.r_score(X[train]).tolist(), "MNIST test": r_normal.tolist()}
        for name, X_ood in ood.items():
            r_ood = det.r_score(X_ood)
            dists[seed][name] = r_ood.tolist()
            y = np.r_[np.zeros(len(r_normal)), np.ones(len(r_ood))]
            r = np.r_[r_normal, r_ood]
            a = -gaussian_log_density(r, det.r_mean_, det.r_std_)
            pix = np.r_[reconstruction_error(det, X[test]), reconstruction_error(det, X_ood)]
            row[name] = {"A-score": roc_auc_score(y, a), "R-score": roc_auc_score(y, r),
                         "pixel L1": roc_auc_score(y, pix), "r_mean": float(r_ood.mean()),
                         "n": len(r_ood)}
        for name, aucs in shallow_aucs(X[train], X[test], ood, seed).items():
            row[name].update(aucs)
        rows.append(row)
        print(json.dumps(row), flush=True)
        # after every seed; the plot shows the first seed's R-scores
        stored["r_scores"] = {"seed": min(dists), "scores": dists[min(dists)]}
        store(stored, rows)
        md = write_outputs(stored, rows)
    return md


PROTOCOL = "MNIST test-split miniature: 1000 normal test images vs one OOD set (positive)"
#: Per-seed numbers of a row: field -> (dataset, metric) of their records (method "AMA").
SEED_FIELDS = {"r_mean_train": ("MNIST train", "mean R"), "r_std_train": ("MNIST train", "std R"),
               "r_mean_normal_test": ("MNIST test", "mean R")}
#: Numbers of a row's OOD set: field -> (method, metric) of their records (dataset: the set).
SET_FIELDS = {"A-score": ("AMA A-score", "AUROC"), "R-score": ("AMA R-score", "AUROC"),
              "pixel L1": ("AMA pixel L1", "AUROC"),
              "IsolationForest": ("IsolationForest", "AUROC"), "OC-SVM": ("OC-SVM", "AUROC"),
              "r_mean": ("AMA", "mean R")}


def rows_to_records(rows):
    """The per-seed rows (with one nested dict per OOD set) as flat records."""
    records = []
    for row in rows:
        seed = row["seed"]
        records += [Record(dataset, "AMA", seed, PROTOCOL, metric, float(row[field]))
                    for field, (dataset, metric) in SEED_FIELDS.items()]
        for name, cells in row.items():
            if isinstance(cells, dict):  # an OOD set; its size in every record's extra
                records += [Record(name, method, seed, PROTOCOL, metric, float(cells[field]),
                                   None, {"n": cells["n"]})
                            for field, (method, metric) in SET_FIELDS.items() if field in cells]
    return records


def records_to_rows(records):
    """The per-seed rows the report reads, back from the records."""
    seed_field = {key: field for field, key in SEED_FIELDS.items()}
    set_field = {key: field for field, key in SET_FIELDS.items()}
    rows = {}
    for r in records:
        row = rows.setdefault(r.seed, {"seed": r.seed})
        if (r.dataset, r.metric) in seed_field:
            row[seed_field[r.dataset, r.metric]] = r.value
        else:
            cells = row.setdefault(r.dataset, {"n": r.extra["n"]})
            cells[set_field[r.method, r.metric]] = r.value
    return list(rows.values())


def store(stored, rows):
    """Write the JSON: ``stored`` (environment, settings, ...) and ``rows`` as records."""
    write_json(STEM, {**stored, "records": records_to_json(rows_to_records(rows))})


def load():
    """The stored run without its records, and its rows rebuilt from them."""
    stored = read_json(STEM)
    rows = records_to_rows(records_from_json(stored.pop("records")))
    return stored, rows


def write_outputs(stored, rows):
    """Write the md and, if the JSON holds the R-scores, the png; return the md."""
    md = to_markdown(rows, stored["settings"]["n_train"], stored["settings"]["n_crops"],
                     stored["environment"], stored.get("shallow_added"))
    write_markdown(STEM, md)
    if "r_scores" in stored:
        plot(stored["r_scores"], RESULTS / f"{STEM}.png")
    else:
        print(f"{STEM}.json holds no R-scores (it predates them): {STEM}.png is left as it is")
    return md


def plot(r_scores, path):
    """Histograms of one seed's R-scores (``{"seed": s, "scores": {name: list}}``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, r in r_scores["scores"].items():
        ax.hist(r, bins=60, density=True, histtype="step", label=name, linewidth=1.5)
    ax.set_xlabel("R-score")
    ax.set_ylabel("density")
    ax.set_title(f"AMA R-scores (trained on MNIST, miniature), seed {r_scores['seed']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def to_markdown(rows, n_train, n_crops, env=None, added=None):
    sets = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    lines = ["| OOD set | n | mean R (OOD) | mean R (MNIST test) | A-score AUROC | "
             "R-score AUROC | pixel L1 AUROC | IsolationForest AUROC | OC-SVM AUROC |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in sets:
        cell = lambda key: np.mean([r[name][key] for r in rows])  # noqa: E731
        sd = lambda key: np.std([r[name][key] for r in rows])  # noqa: E731
        lines.append(
            f"| {name} | {rows[0][name]['n']} | {cell('r_mean'):.1f} | "
            f"{np.mean([r['r_mean_normal_test'] for r in rows]):.1f} | "
            f"{cell('A-score'):.3f} ± {sd('A-score'):.3f} | "
            f"{cell('R-score'):.3f} ± {sd('R-score'):.3f} | "
            f"{cell('pixel L1'):.3f} ± {sd('pixel L1'):.3f} | "
            + " | ".join(f"{cell(m):.3f} ± {sd(m):.3f}" if m in rows[0][name] else "n/a"
                         for m in ("IsolationForest", "OC-SVM")) + " |")
    return "\n".join([
        "# AMA OOD-direction experiment: A-score vs R-score (a CPU miniature)",
        "",
        f"AMA trained on {n_train} MNIST images (all digits, from the 10k test split), "
        "the reduced networks of `ama_mnist.py` (1/16 widths, n_critic = 2, 8 epochs); "
        f"seeds {[r['seed'] for r in rows]}. Normal test: 1000 other MNIST test images. "
        f"OOD: all 1797 `load_digits` images upsampled to 28x28, and {n_crops} random "
        "28x28 grey crops of `load_sample_images`. AUROC with OOD as positive; the "
        "A-score column ranks by -log A. **Miniature**, not the paper's CIFAR-10/SVHN "
        "setting.",
        "",
        "IsolationForest (100 trees, random_state = seed) and OC-SVM (RBF, gamma='scale', "
        "nu=0.1), untuned, are fit on the flattened pixels of the same training images "
        "and scored on the same normal test images and OOD sets as AMA."
        + (f" They were added afterwards with `--add-shallow` ({added}): same seeds, "
           "splits and OOD sets; the AMA numbers are those of the original run."
           if added else ""),
        "",
        *lines,
        "",
        "![R distributions](ama_ood.png)",
        "",
        environment_line(env),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=1200)
    parser.add_argument("--n-crops", type=int, default=500)
    parser.add_argument("--write-only", action="store_true",
                        help="only rewrite the md (and the png) from the JSON, fitting nothing")
    args = parser.parse_args(argv)
    if args.write_only:
        print(write_outputs(*load()))
        return
    torch.set_num_threads(1)
    print(run(list(range(args.seeds)), args.n_train, args.n_crops))


if __name__ == "__main__":
    main()
