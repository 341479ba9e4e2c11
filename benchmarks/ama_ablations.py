"""Ablations of AMA's claims on the MNIST miniature of ``ama_mnist.py``.

The paper (Somepalli et al., UAI 2021, Table 1 and Sec. 4.3) claims that
(a) the mirrored critic D([x, x_hat]) beats a plain critic D(x_hat) and a
plain autoencoder, (b) the A-score is at least as good as the raw R-score
(and the pixel error), (c) atypical selection and (d) simplex interpolation
each help.  Same splits, settings and seeds as ``ama_mnist.py``; every
variant removes one component from the full miniature AMA:

* full AMA (A-score, R-score and pixel L1 error of the same fit);
* plain critic: ``mirrored=False`` (D sees x and G(E(x)) alone);
* plain autoencoder: the same encoder and generator trained on the pixel
  MSE with :class:`skdeepad.AutoEncoder` (8 epochs, batch 64, lr 3e-4);
* w/o atypical selection: ``negatives=None``;
* w/o simplex interpolation: ``lambda_inter=0``.

A miniature: two digits chosen in advance (0, the paper's easiest-looking,
and 8, its hardest, AUROC .986 and .876), up to 3 seeds (seed-major order;
an interrupted run is reported with the seeds it finished), the reduced AMA
of ``ama_mnist.py``.

    OMP_NUM_THREADS=1 SKDEEPAD_DATA=../shared/data python benchmarks/ama_ablations.py

Writes ``benchmarks/results/ama_ablations.{md,json,png}``.
"""

import argparse
import json

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from skdeepad import AMA, AutoEncoder
from skdeepad._benchmark import shallow_normality
from skdeepad.networks import AMAConvEncoder, AMAConvGenerator, EncoderDecoder

if __package__:  # python -m benchmarks.ama_ablations
    from ._harness import (RESULTS, Record, environment_line, markdown_table, read_json,
                           records_from_json, records_to_json, write_json, write_markdown)
    from .ama_mnist import (AMA_MINI, ama_scores, load_data, one_vs_rest_split,
                            records_to_rows)
else:  # python benchmarks/ama_ablations.py: Python puts benchmarks/ on the import path
    from _harness import (RESULTS, Record, environment_line, markdown_table, read_json,
                          records_from_json, records_to_json, write_json, write_markdown)
    from ama_mnist import AMA_MINI, ama_scores, load_data, one_vs_rest_split, records_to_rows

PROTOCOL = "one-vs-rest, MNIST test split miniature"
METRIC = "AUROC"


def stored_rows(stem):
    """The (digit, seed) rows of ``results/<stem>.json``'s records."""
    records = records_from_json(read_json(stem)["records"])
    if stem == "ama_mnist":
        return records_to_rows(records)
    rows = {}
    for r in records:
        digit = int(r.dataset.rsplit(" ", 1)[1])
        rows.setdefault((digit, r.seed), {"digit": digit, "seed": r.seed})[r.method] = r.value
    return list(rows.values())


def rows_to_records(rows):
    """One record per ``"variant | score"`` column of each (digit, seed) row."""
    return [Record(f"MNIST digit {row['digit']}", key, row["seed"], PROTOCOL, METRIC,
                   float(value))
            for row in rows for key, value in row.items() if key not in ("digit", "seed")]

VARIANTS = {
    "AMA (full)": {},
    "plain critic (w/o mirrored loss)": {"mirrored": False},
    "w/o atypical selection": {"negatives": None},
    "w/o simplex interpolation": {"lambda_inter": 0.0},
}


def plain_autoencoder(seed):
    """The miniature's encoder and generator as a pixel-MSE autoencoder."""
    shape = (1, 28, 28)
    torch.manual_seed(seed)  # the networks' initial weights
    latent_dim, width = AMA_MINI["latent_dim"], AMA_MINI["network__width"]
    net = EncoderDecoder(AMAConvEncoder(shape, latent_dim, width, -1.0),
                         AMAConvGenerator(shape, latent_dim, width))
    return AutoEncoder(network=net, epochs=AMA_MINI["epochs"], batch_size=64, lr=3e-4,
                       lr_milestones=(), weight_decay=0.0, device="cpu", random_state=seed)


def run(digits_list, seeds, n_anomalies, partial, rows=(), full_rows=()):
    """One row per (digit, seed); variants already in ``rows`` are kept.

    ``full_rows`` are ``ama_mnist.py`` rows: its AMA is this script's full
    variant (same settings, same seeds, equal bit for bit), so they are
    reused instead of refitted.
    """
    X, digits = load_data()
    X = X * 2 - 1
    rows = [dict(r) for r in rows]
    full = {(r["digit"], r["seed"]): r for r in full_rows}
    for seed in seeds:
        for normal in digits_list:
            train, test, y_test = one_vs_rest_split(digits, normal, seed, n_anomalies)
            row = next((r for r in rows if (r["digit"], r["seed"]) == (normal, seed)), None)
            if row is None:
                row = {"digit": int(normal), "seed": int(seed)}
                rows.append(row)
            if (normal, seed) in full and "AMA (full) | A-score" not in row:
                for score in ("A-score", "R-score", "pixel L1"):
                    row[f"AMA (full) | {score}"] = full[normal, seed][f"AMA {score}"]
            if "IsolationForest | raw pixels" not in row:  # same split, same seed
                if (normal, seed) in full:
                    shallow = {m: full[normal, seed][m] for m in ("IsolationForest", "OC-SVM")}
                else:  # pixels in [-1, 1] here: an affine map, the same ranking
                    flat = X.reshape(len(X), -1)
                    shallow = {m: roc_auc_score(y_test, -s) for m, s in shallow_normality(
                        flat[train], flat[test], seed).items()}
                for m, auc in shallow.items():
                    row[f"{m} | raw pixels"] = auc
            variants = list(VARIANTS.items())
            # the cheap plain autoencoder second, so an interrupted run has it
            for name, extra in variants[:1] + [("plain autoencoder", None)] + variants[1:]:
                if any(k.startswith(f"{name} | ") for k in row):
                    continue
                if extra is None:
                    ae = plain_autoencoder(seed).fit(X[train])
                    row[f"{name} | pixel MSE"] = roc_auc_score(y_test,
                                                              -ae.score_samples(X[test]))
                else:
                    det = AMA(random_state=seed, **{**AMA_MINI, **extra}).fit(X[train])
                    for score, s in ama_scores(det, X[test]).items():
                        row[f"{name} | {score}"] = roc_auc_score(y_test, s)
                print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                                  for k, v in row.items()}), flush=True)
                partial.write_text(json.dumps(rows, indent=1))  # after every variant
    return rows


def summarise(rows, digits_list):
    keys = list(dict.fromkeys(k for r in rows for k in r if "|" in k))
    table = {}
    for key in keys:
        per_digit = {d: [r[key] for r in rows if r["digit"] == d and key in r]
                     for d in digits_list}
        per_digit = {d: v for d, v in per_digit.items() if v}
        table[key] = {"per_digit": {d: (float(np.mean(v)), float(np.std(v)))
                                    for d, v in per_digit.items()},
                      "mean": float(np.mean([np.mean(v) for v in per_digit.values()])),
                      "seeds": [r[key] for r in rows if key in r]}
    return table


def plot(table, digits_list, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(table)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(keys) + 1.5))
    y = np.arange(len(keys))
    height = 0.8 / len(digits_list)
    for i, d in enumerate(digits_list):
        means = [table[k]["per_digit"].get(d, (np.nan, 0))[0] for k in keys]
        stds = [table[k]["per_digit"].get(d, (np.nan, 0))[1] for k in keys]
        ax.barh(y + i * height, means, height, xerr=stds, label=f"digit {d}")
    ax.set_yticks(y + height * (len(digits_list) - 1) / 2, keys)
    ax.invert_yaxis()
    ax.set_xlim(0.3, 1.0)
    ax.set_xlabel("AUROC (mean ± std over seeds)")
    ax.set_title("AMA ablations, MNIST miniature (CPU, reduced networks)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def to_markdown(table, digits_list, seeds, n_anomalies, env=None):
    """The report; ``env``: the environment line (default: this process's)."""
    header = ["variant", "score", *[f"digit {d}" for d in digits_list], "mean"]
    rows = []
    for key, t in table.items():  # key "variant|score" fills two columns
        cells = [key] + [f"{t['per_digit'][d][0]:.3f} ± {t['per_digit'][d][1]:.3f}"
                         if d in t["per_digit"] else "n/a" for d in digits_list]
        cells += [f"{t['mean']:.3f}"]
        rows.append(cells)
    return "\n".join([
        "# AMA ablations on the MNIST miniature (not the paper's setting)",
        "",
        f"AUROC, mean ± std over seeds {list(seeds)}; digits {list(digits_list)} (chosen in "
        f"advance); test = 40 % of the digit + {n_anomalies} other digits; the reduced AMA "
        "of `ama_mnist.py` (1/16 widths, n_critic = 2, 8 epochs). **Miniature**: a few "
        "dozen generator steps on ~600 images, so these numbers say how the components act "
        "early in training on small data, not what they do at the paper's scale. "
        "IsolationForest and OC-SVM (gamma='scale', nu=0.1) on the raw pixels of the same "
        "splits stand beside them (taken from `ama_mnist.json`, same digits and seeds).",
        "",
        *markdown_table(header, rows),
        "",
        "![ablations](ama_ablations.png)",
        "",
        environment_line(env),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", type=int, nargs="*", default=[0, 8])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-anomalies", type=int, default=1000)
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the report from the cached rows (of an interrupted run "
                             "if any; otherwise the JSON and its environment line are kept)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the variants of the existing JSON and reuse the full AMA "
                             "of ama_mnist.json; run the rest")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    RESULTS.mkdir(exist_ok=True)
    partial = RESULTS / "ama_ablations.partial.json"
    env = None  # this process's environment line: a new JSON is written
    if args.report_only:
        if partial.exists():  # an interrupted run: its rows become the JSON
            rows = json.loads(partial.read_text())
        else:  # only the md and png are rewritten, with the stored run's environment line
            rows, env = stored_rows("ama_ablations"), read_json("ama_ablations")["environment"]
        seeds = sorted({r["seed"] for r in rows})
        args.digits = sorted({r["digit"] for r in rows})
    else:
        seeds = list(range(args.seeds))
        kept, full = [], []
        if args.resume:
            kept = stored_rows("ama_ablations")
            full = stored_rows("ama_mnist")
        rows = run(args.digits, seeds, args.n_anomalies, partial, kept, full)
    table = summarise(rows, args.digits)
    if env is None:
        env = environment_line()
        write_json("ama_ablations", {"environment": env,
                                     "records": records_to_json(rows_to_records(rows))})
        partial.unlink(missing_ok=True)  # the final JSON holds every row now
    plot(table, args.digits, RESULTS / "ama_ablations.png")
    md = to_markdown(table, args.digits, seeds, args.n_anomalies, env)
    write_markdown("ama_ablations", md + "\n")
    print(md)


if __name__ == "__main__":
    main()
