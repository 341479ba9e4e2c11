"""DROCC on MNIST images (CNN), MNIST rows as sequences (LSTM), and the OCLN miniature.

A CPU miniature of the DROCC paper's image, time-series and OCLN
experiments, on the only MNIST data the package ships a loader for, the
10 000-image *test* split (``load_mnist_test``).  That split is cut in two
halves once (stratified, seeded): models train on the first half and are
scored on the second.  Pixels are normalised with the reference code's mean
0.1307 and std 0.3081.

1. One-vs-rest (Section 5.1 style), CNN: for each normal digit, DROCC with
   the LeNet-type CNN + linear head and DeepSVDD (its LeNet) train on that
   digit's first-half images; AUC on the whole second half.
2. Sequences (Appendix E.4 style): each image read as 28 steps of 28
   features; DROCC with the single-layer LSTM (128 units, linear head on
   the last hidden state) and DeepSVDD with a bias-free LSTM encoder (its
   last hidden state as the representation, no pretraining).
3. OCLN (Section 5.2.1): digit 0 normal, the first half's digit-1 images as
   the limited negatives; at test time the second half's 0s (positives),
   1s (negatives) and "half zeros" (the second half's 0s with 50 % of the
   pixels of each image set to black: close negatives).  Recall of the
   positives at 3 % false-positive rate over all negatives, for DROCC-LF,
   DROCC-OE, DeepSAD and a binary classifier (DeepBinaryClassifier).

Beside them, IsolationForest (100 trees) and OC-SVM (RBF, gamma="scale",
nu = 0.1) on the flattened normalised pixels, fit on the same training rows
(the normal digit's first-half images; for OCLN the first-half 0s, as both
are unsupervised) and scored on the same test sets.

Hyperparameters are fixed in advance (below), never chosen on the test
half; the final epoch is scored.  Epoch counts are far below the paper's
(a miniature for 2 shared CPU cores).

    SKDEEPAD_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/drocc_mnist.py
    python benchmarks/drocc_mnist.py --write-only [--out STEM]  # the md from the JSON

Writes ``benchmarks/results/<--out>.{md,json}`` (default ``drocc_mnist``)
through ``_harness``.  The JSON holds harness records (one-vs-rest: one
"AUC (%)" record per digit, method and seed, the network in ``extra``;
OCLN: three recall records per method and seed; ``fit_seconds``: fit and
scoring) beside the run's settings, so ``--write-only`` rewrites the md
from it, with the environment line of the run, without fitting anything.
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split
from torch import nn

from skdeepad import DROCC, DROCCLF, DeepBinaryClassifier, DeepSAD, DeepSVDD
from skdeepad._benchmark import shallow_normality
from skdeepad.datasets import load_mnist_test

if __package__:  # python -m benchmarks.drocc_mnist
    from ._harness import (Record, environment_line, read_json, records_from_json,
                           records_to_json, write_json, write_markdown)
else:  # python benchmarks/drocc_mnist.py: Python puts benchmarks/ on the import path
    from _harness import (Record, environment_line, read_json, records_from_json,
                          records_to_json, write_json, write_markdown)

#: The reference LF-MNIST example's radius (16, in normalised pixel units),
#: gamma and ascent step (0.1); lr 1e-3 instead of its 1e-4 for the short run.
#: MINIATURE: 10 ascent steps instead of 50 (one CNN epoch of 50 steps on 490
#: images took ~55 s on the shared CPU).
IMAGE_DROCC = dict(radius=16.0, gamma=2.0, lamda=1.0, ascent_step_size=0.1,
                   ascent_num_steps=10, far_scale=1.0, lr=1e-3, batch_size=256, device="cpu")
IMAGE_EPOCHS = dict(epochs=6, only_ce_epochs=1)
#: Sequences: the reference time-series example's gamma 2, lamda 0.5, ascent
#: step 0.1 and no warm-up; radius 16 as for the images (same pixels).
SEQ_DROCC = dict(radius=16.0, gamma=2.0, lamda=0.5, ascent_step_size=0.1,
                 ascent_num_steps=10, far_scale=1.0, lr=1e-3, batch_size=256, epochs=5,
                 only_ce_epochs=0, device="cpu")
BASELINE_EPOCHS = dict(epochs=12, lr=1e-3, lr_milestones=(), device="cpu")
SHALLOW = ("IsolationForest", "OC-SVM")


class LSTMEncoder(nn.Module):
    """Bias-free single-layer LSTM; the last hidden state is the representation."""

    def __init__(self, n_features=28, hidden_size=32):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden_size, batch_first=True, bias=False)

    def forward(self, x):
        return self.lstm(x)[0][:, -1]


def seeded_lstm_encoder(seed):
    """An LSTMEncoder whose initial weights come from ``seed``, not the global RNG.

    DeepSVDD keeps a user network's weights as given, so without this the
    baseline would differ from run to run.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LSTMEncoder()


def load(seed=0):
    X, digits = load_mnist_test()
    X = (X.astype(np.float32) / 255 - 0.1307) / 0.3081
    idx_a, idx_b = train_test_split(np.arange(len(X)), test_size=0.5, stratify=digits,
                                    random_state=seed)
    return X[idx_a], digits[idx_a], X[idx_b], digits[idx_b]


def one_vs_rest(X_a, d_a, X_b, d_b, normal_digits, seed):
    rows = []
    for digit in normal_digits:
        train = X_a[d_a == digit]
        is_anomaly = d_b != digit
        for kind, make in [
            ("CNN", lambda: DROCC(**IMAGE_DROCC, **IMAGE_EPOCHS, random_state=seed)),
            ("CNN", lambda: DeepSVDD(pretrain_epochs=6, random_state=seed, **BASELINE_EPOCHS)),
            ("LSTM", lambda: DROCC(**SEQ_DROCC, random_state=seed)),
            ("LSTM", lambda: DeepSVDD(network=seeded_lstm_encoder(seed), pretrain=False,
                                      random_state=seed, **BASELINE_EPOCHS)),
        ]:
            det = make()
            Xtr, Xte = (train, X_b) if kind == "CNN" else (train[:, 0], X_b[:, 0])
            tic = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                det.fit(Xtr)
            auc = roc_auc_score(is_anomaly, -det.score_samples(Xte))
            rows.append(dict(task="one-vs-rest", network=kind, method=type(det).__name__,
                             digit=int(digit), seed=seed, auc=100 * auc,
                             seconds=time.perf_counter() - tic))
            print(rows[-1], flush=True)
    return rows


def shallow_one_vs_rest(X_a, d_a, X_b, d_b, normal_digits, seed):
    """IsolationForest and OC-SVM on the pixels of the same training and test images."""
    rows = []
    for digit in normal_digits:
        train = X_a[d_a == digit]
        for name, scores in shallow_normality(train, X_b, seed).items():
            rows.append(dict(task="one-vs-rest", network="pixels", method=name,
                             digit=int(digit), seed=seed,
                             auc=100 * roc_auc_score(d_b != digit, -scores),
                             n_train=len(train), n_test=len(X_b)))
            print(rows[-1], flush=True)
    return rows


def half_zeros(X, rng):
    """Each image with a random half of its pixels set to black (the minimum)."""
    out = X.copy()
    flat = out.reshape(len(out), -1)
    black = X.min()
    for row in flat:  # a different random half per image (data preparation only)
        row[rng.permutation(row.size)[: row.size // 2]] = black
    return out


def recall_at_fpr(is_positive, scores, fpr=0.03):
    """Largest share of positives accepted while at most ``fpr`` of negatives are."""
    fprs, tprs, _ = roc_curve(is_positive, scores)
    return float(tprs[fprs <= fpr].max())


def ocln_data(X_a, d_a, X_b, d_b, seed):
    """Training rows and labels, test rows, positives and the number of far test rows."""
    train = X_a[(d_a == 0) | (d_a == 1)]
    y = np.where(d_a[(d_a == 0) | (d_a == 1)] == 1, -1, 0)   # 1s: limited negatives
    zeros, ones = X_b[d_b == 0], X_b[d_b == 1]
    close = half_zeros(zeros, np.random.RandomState(100 + seed))
    X_test = np.r_[zeros, ones, close]
    is_positive = np.r_[np.ones(len(zeros)), np.zeros(len(ones) + len(close))]
    return train, y, X_test, is_positive, len(zeros) + len(ones)


def ocln_row(name, seed, is_positive, scores, n_far, **extra):
    return dict(task="ocln", method=name, seed=seed,
                recall_at_3=100 * recall_at_fpr(is_positive, scores),
                recall_at_5=100 * recall_at_fpr(is_positive, scores, 0.05),
                recall_at_3_far_only=100 * recall_at_fpr(is_positive[:n_far], scores[:n_far]),
                **extra)


def shallow_ocln(X_a, d_a, X_b, d_b, seed):
    """IsolationForest and OC-SVM fit on the training 0s (the 1s are labels they cannot use)."""
    train, y, X_test, is_positive, n_far = ocln_data(X_a, d_a, X_b, d_b, seed)
    rows = []
    for name, scores in shallow_normality(train[y != -1], X_test, seed).items():
        rows.append(ocln_row(name, seed, is_positive, scores, n_far,
                             n_train=int((y != -1).sum()), n_test=len(X_test)))
        print(rows[-1], flush=True)
    return rows


def ocln(X_a, d_a, X_b, d_b, seed, radius=None):
    train, y, X_test, is_positive, n_far = ocln_data(X_a, d_a, X_b, d_b, seed)
    params = dict(IMAGE_DROCC, **({} if radius is None else {"radius": radius}))
    methods = {
        "DROCC-LF": lambda: DROCCLF(**params, **IMAGE_EPOCHS, random_state=seed),
        "DROCC-OE": lambda: DROCC(**params, **IMAGE_EPOCHS, random_state=seed),
        "DeepSAD": lambda: DeepSAD(pretrain_epochs=6, random_state=seed, **BASELINE_EPOCHS),
        "binary classifier": lambda: DeepBinaryClassifier(random_state=seed, **BASELINE_EPOCHS),
    }
    rows = []
    for name, make in methods.items():
        det = make()
        tic = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            det.fit(train, y)
        scores = det.score_samples(X_test)
        rows.append(ocln_row(name, seed, is_positive, scores, n_far,
                             seconds=time.perf_counter() - tic))
        print(rows[-1], flush=True)
    return rows


OVR_PROTOCOL = "one-vs-rest: train on the digit's images of MNIST test half A, test on half B"
OCLN_PROTOCOL = ("OCLN: train on half A's 0s and 1s (1s labeled negative), test on half B's "
                 "0s, 1s and half zeros")
OCLN_DATASET = "MNIST 0 vs 1s and half zeros"
#: The OCLN rows' values and the metrics of their records.
OCLN_METRICS = {"recall_at_3": "recall (%) at 3 % FPR", "recall_at_5": "recall (%) at 5 % FPR",
                "recall_at_3_far_only": "recall (%) at 3 % FPR, 1s only"}


def rows_to_records(rows):
    """One record per one-vs-rest row and three (one per recall) per OCLN row."""
    records = []
    for row in rows:
        extra = {k: row[k] for k in ("n_train", "n_test") if k in row}
        if row["task"] == "one-vs-rest":
            net = row["network"]
            method = row["method"] if net == "pixels" else f"{row['method']} {net}"
            dataset, protocol, extra = f"MNIST digit {row['digit']}", OVR_PROTOCOL, {
                "network": net, **extra}
            values = {"AUC (%)": row["auc"]}
        else:
            method, dataset, protocol = row["method"], OCLN_DATASET, OCLN_PROTOCOL
            values = {metric: row[key] for key, metric in OCLN_METRICS.items()}
        records += [Record(dataset, method, row["seed"], protocol, metric, float(value),
                           row.get("seconds"), dict(extra))
                    for metric, value in values.items()]
    return records


def records_to_rows(records):
    """The rows the report reads, back from the records."""
    keys = {metric: key for key, metric in OCLN_METRICS.items()}
    rows = {}
    for r in records:
        if r.protocol == OVR_PROTOCOL:
            net = r.extra["network"]
            row = rows.setdefault((r.dataset, r.method, r.seed), {
                "task": "one-vs-rest", "network": net, "method": r.method.removesuffix(f" {net}"),
                "digit": int(r.dataset.rsplit(" ", 1)[1]), "seed": r.seed})
            row["auc"] = r.value
        else:
            row = rows.setdefault((r.dataset, r.method, r.seed),
                                  {"task": "ocln", "method": r.method, "seed": r.seed})
            row[keys[r.metric]] = r.value
        if r.fit_seconds is not None:
            row["seconds"] = r.fit_seconds
        row.update({k: v for k, v in r.extra.items() if k != "network"})
    return list(rows.values())


def _cell(values):
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def to_markdown(rows, digits):
    lines = ["## One-vs-rest AUC (%) on the second half of the MNIST test split", "",
             "| normal digit | DROCC CNN | DeepSVDD CNN | DROCC LSTM | DeepSVDD LSTM | "
             "IsolationForest (pixels) | OC-SVM (pixels) |",
             "|---|---|---|---|---|---|---|"]
    for d in digits:
        cells = []
        for net, m in [("CNN", "DROCC"), ("CNN", "DeepSVDD"), ("LSTM", "DROCC"),
                       ("LSTM", "DeepSVDD"), ("pixels", SHALLOW[0]), ("pixels", SHALLOW[1])]:
            v = [r["auc"] for r in rows if r["task"] == "one-vs-rest" and r["digit"] == d
                 and r["network"] == net and r["method"] == m]
            cells.append(_cell(v) if v else "n/a")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    lines += ["", "## OCLN: digit 0 vs limited 1s, half-zeros as close negatives (recall %, "
              "paper Sec. 5.2.1)", "",
              "| method | recall @ 3 % FPR | recall @ 5 % FPR | recall @ 3 % FPR, 1s only "
              "(no close negatives) | paper recall @ 3 % |", "|---|---|---|---|---|"]
    paper = {"DROCC-LF": "99.4", "DROCC-OE": "98.16", "DeepSAD": "90.91",
             "binary classifier": "54", SHALLOW[0]: "n/a", SHALLOW[1]: "n/a"}
    for m in paper:
        sel = [r for r in rows if r["task"] == "ocln" and r["method"] == m]
        if sel:
            lines.append(f"| {m} | {_cell([r['recall_at_3'] for r in sel])} | "
                         f"{_cell([r['recall_at_5'] for r in sel])} | "
                         f"{_cell([r['recall_at_3_far_only'] for r in sel])} | {paper[m]} |")
    return "\n".join(lines)


def run_settings(args):
    """What the report needs besides the records: the options and the fixed settings."""
    return dict(seeds=args.seeds, digits=[] if args.skip_one_vs_rest else list(args.digits),
                skip_one_vs_rest=args.skip_one_vs_rest, ocln_radius=args.ocln_radius,
                image_drocc=IMAGE_DROCC, image_epochs=IMAGE_EPOCHS, seq_drocc=SEQ_DROCC,
                baseline_epochs=BASELINE_EPOCHS)


def _as_run(params):
    """``params`` as the run passed them (JSON stores the tuples as lists)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


def report(stem, stored):
    """The markdown of the run stored in ``results/<stem>.json`` (``stored``)."""
    s = stored["settings"]
    image_drocc, seq_drocc = _as_run(s["image_drocc"]), _as_run(s["seq_drocc"])
    image_epochs, baseline_epochs = _as_run(s["image_epochs"]), _as_run(s["baseline_epochs"])
    added = stored.get("shallow_added")
    rows = records_to_rows(records_from_json(stored["records"]))
    return (
        "# DROCC on MNIST: CNN, LSTM on rows, OCLN (a CPU miniature)\n\n"
        f"Command: `OMP_NUM_THREADS=1 SKDEEPAD_DATA=../shared/data python "
        f"benchmarks/drocc_mnist.py --seeds {s['seeds']}"
        + (" --skip-one-vs-rest" if s["skip_one_vs_rest"] else "")
        + (f" --ocln-radius {s['ocln_radius']}" if s["ocln_radius"] else "")
        + (f" --out {stem}" if stem != "drocc_mnist" else "") + "`\n\n"
        + (f"OCLN radius of DROCC-LF/OE: {s['ocln_radius']}.\n\n" if s["ocln_radius"] else "")
        +
        "MINIATURE: MNIST *test* split only (the package ships no training split), cut "
        "into two stratified halves (train / test); "
        f"{s['seeds']} seed(s); DROCC {image_epochs['epochs']} epochs on images "
        f"({image_epochs['only_ce_epochs']} warm-up) and {seq_drocc['epochs']} on "
        "sequences, 10 ascent steps instead of 50, baselines 12 epochs (+6 AE pretraining where used): far shorter "
        "than the paper. Settings fixed in advance: DROCC images "
        f"{image_drocc}; sequences {seq_drocc}; DeepSVDD/DeepSAD/binary classifier "
        f"{baseline_epochs}. Scores of the final epoch.\n\n"
        "IsolationForest (100 trees, random_state = seed) and OC-SVM (RBF, gamma='scale', "
        "nu=0.1), untuned, on the flattened normalised pixels: fit on the same training "
        "rows as the deep methods (the normal digit's first-half images; for OCLN the "
        "first-half 0s only, the labeled 1s being unusable by these unsupervised methods) "
        "and scored on the same test sets."
        + (f" They were added afterwards with `--add-shallow` ({added}): same seeds, "
           "same splits, the deep numbers are those of the original run." if added else "")
        + "\n\n" + to_markdown(rows, s["digits"])
        + "\n\n" + stored["environment"] + "\n"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", type=int, nargs="*", default=[3, 8])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--skip-one-vs-rest", action="store_true")
    parser.add_argument("--ocln-radius", type=float, default=None,
                        help="DROCC-LF/OE radius for the OCLN part (default: 16)")
    parser.add_argument("--out", default="drocc_mnist")
    parser.add_argument("--write-only", action="store_true",
                        help="only rewrite the md of --out from its JSON (keeps the JSON and "
                             "the environment line of the run that measured it)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.write_only:
        stored = read_json(args.out)
    else:
        rows = []
        for seed in range(args.seeds):
            X_a, d_a, X_b, d_b = load(seed)
            rows += ocln(X_a, d_a, X_b, d_b, seed, args.ocln_radius)
            rows += shallow_ocln(X_a, d_a, X_b, d_b, seed)
            if not args.skip_one_vs_rest:
                rows += one_vs_rest(X_a, d_a, X_b, d_b, args.digits, seed)
                rows += shallow_one_vs_rest(X_a, d_a, X_b, d_b, args.digits, seed)
        stored = {"environment": environment_line(), "settings": run_settings(args),
                  "records": records_to_json(rows_to_records(rows))}
        write_json(args.out, stored)
    text = report(args.out, stored)
    write_markdown(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
