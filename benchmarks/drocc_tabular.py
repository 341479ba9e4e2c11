"""Table 2 of the DROCC paper (Goyal et al., ICML 2020): F1 on thyroid, arrhythmia, abalone.

Every method is run through the same two protocols (splits from
``skdeepad.datasets``, metrics from ``skdeepad.metrics``):

* ``drocc`` -- the authors' code: test = all anomalies + as many random
  normals, train = the other normals, z-scored with train statistics; F1 of
  the *normal* class, "normal" above the 20th percentile of the test scores
  (:func:`make_drocc_split`, :func:`drocc_f1_score`).  A random scorer gets
  about 0.62 on such a balanced test set, a perfect one about 0.77.
* ``half`` -- DAGMM/GOAD: train on a random half of the normals, test on the
  other half + all anomalies; F1 of the *anomaly* class, threshold at the
  anomaly ratio (:func:`make_half_normal_split`, :func:`anomaly_ratio_f1_score`).

DROCC uses the paper's Table 10 / the reference README's hyperparameters
(radius, lr, epochs, warm-up) and the *final* epoch.  The reference code
instead reports the best epoch on the test set; that figure is recorded
beside ours (column "test-selected"), and marked as such.

    SKDEEPAD_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/drocc_tabular.py
    ... --seeds 2 --datasets thyroid            # a smaller run

    ... --write-only                            # the md from the stored records

Writes ``benchmarks/results/drocc_tabular.md`` and ``.json`` (harness records;
``extra`` holds DROCC's test-selected F1 and its epoch).
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from sklearn.svm import OneClassSVM

from skdeepad import DROCC, DeepSVDD
from skdeepad.callbacks import Callback
from skdeepad.datasets import (
    load_abalone_outliers,
    load_adbench,
    load_odds,
    make_drocc_split,
    make_half_normal_split,
)
from skdeepad.metrics import anomaly_ratio_f1_score, drocc_f1_score

if __package__:  # python -m benchmarks.drocc_tabular
    from ._harness import (Record, environment_line, read_json, records_from_json,
                           records_to_json, write_json, write_markdown)
else:  # python benchmarks/drocc_tabular.py: Python puts benchmarks/ on the import path
    from _harness import (Record, environment_line, read_json, records_from_json,
                          records_to_json, write_json, write_markdown)

METRIC = "F1"

#: Paper Table 2 (F1 mean, std).
PAPER = {
    "thyroid": {"DROCC": (0.78, 0.03), "DeepSVDD": (0.73, 0.00), "OC-SVM": (0.39, 0.01)},
    "arrhythmia": {"DROCC": (0.69, 0.02), "DeepSVDD": (0.54, 0.01), "OC-SVM": (0.46, 0.00)},
    "abalone": {"DROCC": (0.68, 0.02), "DeepSVDD": (0.62, 0.01), "OC-SVM": (0.48, 0.00)},
}

#: Table 10 (radius, lr) with the README's epochs; gamma = 2, lamda = 1, 50
#: ascent steps, batch 256, Adam (README).
DROCC_PARAMS = {
    "thyroid": dict(radius=2.5, lr=1e-3, epochs=100),
    "arrhythmia": dict(radius=16.0, lr=1e-4, epochs=200),
    "abalone": dict(radius=3.0, lr=1e-3, epochs=200),
}
DROCC_PARAMS["annthyroid"] = DROCC_PARAMS["thyroid"]
COMMON = dict(gamma=2.0, lamda=1.0, ascent_num_steps=50, batch_size=256, device="cpu")
#: The paper's configuration beyond that: the README's 50 warm-up epochs,
#: Table 10's ascent step, one annulus.  "DROCC (defaults)" keeps the
#: package's defaults for these three instead.
PAPER_CONFIG = dict(only_ce_epochs=50, ascent_step_size=0.01, far_scale=1.0)

PROTOCOLS = {
    "drocc": (make_drocc_split, drocc_f1_score),
    "half": (make_half_normal_split, anomaly_ratio_f1_score),
}


def load(name):
    if name == "abalone":
        return load_abalone_outliers()
    if name == "annthyroid":  # the set the reference README links for "Thyroid"
        return load_adbench("annthyroid")
    return load_odds(name)


class TestCurve(Callback):
    """The test F1 after every epoch (benchmark only).

    Used solely to show what the reference code's test-set model selection
    would report; the model kept is always the final epoch's.  DROCC's score
    is its network's logit, evaluated here without changing the training
    (no gradient, no random draw; the loop puts the network back in training
    mode at the next epoch).
    """

    def __init__(self, X_test, y_test, metric):
        self.X_test = torch.as_tensor(X_test, dtype=torch.float32)
        self.y_test, self.metric, self.curve = y_test, metric, []

    def on_epoch_end(self, loop, record):
        net = loop.modules[0].eval()
        with torch.inference_mode():
            scores = net(self.X_test).double().numpy()
        self.curve.append(self.metric(self.y_test, scores))


class RandomScorer:
    """Uniform random scores: the chance level of each protocol."""

    def __init__(self, seed):
        self.seed = seed

    def fit(self, X):
        return self

    def score_samples(self, X):
        return np.random.RandomState(self.seed).rand(len(X))


def baselines(seed):
    return {
        "random": RandomScorer(seed),
        "IsolationForest": IsolationForest(random_state=seed),
        "OC-SVM": OneClassSVM(nu=0.1, gamma="scale"),
        "DeepSVDD": DeepSVDD(random_state=seed, device="cpu"),
    }


def run(datasets, seeds):
    records = []
    for name in datasets:
        X, y = load(name)
        for protocol, (split, metric) in PROTOCOLS.items():
            for seed in range(seeds):
                X_train, X_test, y_test = split(X, y, random_state=seed)
                for method, extra in (("DROCC", PAPER_CONFIG), ("DROCC (defaults)", {})):
                    tic = time.perf_counter()
                    curve = TestCurve(X_test, y_test, metric)
                    det = DROCC(**DROCC_PARAMS[name], **COMMON, **extra, random_state=seed,
                                callbacks=[curve])
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # arrhythmia's constant columns
                        det.fit(X_train)
                    f1 = metric(y_test, det.score_samples(X_test))
                    records.append(Record(
                        name, method, seed, protocol, METRIC, float(f1),
                        time.perf_counter() - tic,
                        {"test_selected": max(curve.curve),
                         "best_epoch": int(np.argmax(curve.curve)) + 1}))
                for method, model in baselines(seed).items():
                    tic = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model.fit(X_train)
                    f1 = metric(y_test, model.score_samples(X_test))
                    records.append(Record(name, method, seed, protocol, METRIC, float(f1),
                                          time.perf_counter() - tic))
                print(name, protocol, seed,
                      {r.method: round(r.value, 3) for r in records[-6:]}, flush=True)
    return records


def _cell(values):
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "n/a"


def to_markdown(records, datasets, seeds):
    methods = ["DROCC", "DROCC (defaults)", "random", "IsolationForest", "OC-SVM", "DeepSVDD"]
    lines = []
    for protocol, title in [
        ("drocc", "Authors' protocol: normal-class F1, 'normal' above the 20th "
                  "percentile of test scores, test = all anomalies + as many normals"),
        ("half", "DAGMM/GOAD protocol: anomaly-class F1 at the anomaly ratio, "
                 "train = half of the normals"),
    ]:
        lines += [f"### {title}", ""]
        header = ["dataset", *methods, "DROCC test-selected (not honest)", "paper DROCC",
                  "paper DeepSVDD", "paper OC-SVM"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for name in datasets:
            row = [name]
            sel = [r for r in records if r.dataset == name and r.protocol == protocol]
            for m in methods:
                row.append(_cell([r.value for r in sel if r.method == m]))
            row.append(_cell([r.extra["test_selected"] for r in sel if r.method == "DROCC"]))
            for m in ("DROCC", "DeepSVDD", "OC-SVM"):
                p = PAPER.get(name, {}).get(m)
                row.append(f"{p[0]:.2f} ± {p[1]:.2f}" if p else "")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", nargs="*",
                        default=["thyroid", "arrhythmia", "abalone"],
                        help="also 'annthyroid', the set the reference README links")
    parser.add_argument("--out", default="drocc_tabular")
    parser.add_argument("--write-only", action="store_true",
                        help="rewrite the md from the stored records, fitting nothing")
    args = parser.parse_args()
    if args.write_only:
        stored = read_json(args.out)
    else:
        records = run(args.datasets, args.seeds)
        write_json(args.out, {"drocc_params": DROCC_PARAMS, "common": COMMON,
                              "records": records_to_json(records)})
        stored = read_json(args.out)
    records = records_from_json(stored["records"])
    table = to_markdown(records, args.datasets, args.seeds)
    header = (
        f"# DROCC Table 2 (F1), {args.seeds} seeds, mean ± std\n\n"
        f"Command: `OMP_NUM_THREADS=1 SKDEEPAD_DATA=../shared/data python "
        f"benchmarks/drocc_tabular.py --seeds {args.seeds}`\n\n"
        "DROCC: the paper's configuration -- Table 10 radius/lr (ascent step 0.01), README "
        "epochs/warm-up, gamma 2, lamda 1, 50 ascent steps, batch 256, Adam, one annulus; "
        "the final epoch is scored. DROCC (defaults): the same radius, lr, epochs and batch "
        "with the package's defaults otherwise (no warm-up, ascent step radius/10, half of "
        "the negatives from annuli up to 16x larger). "
        "'test-selected' = the best epoch on the test set, as the reference code "
        "reports it (shown only to measure that effect; never used otherwise). "
        "IsolationForest: defaults; OC-SVM: RBF, gamma='scale', nu=0.1 (untuned); "
        "DeepSVDD: skdeepad defaults (one-class, AE pretraining, 150+150 epochs). "
        "annthyroid: the set the reference README links for 'Thyroid' (7200 x 6); "
        "the paper's Table 2 row is labelled Thyroid, which DAGMM/GOAD use as ODDS "
        "thyroid (3772 x 6).\n\n"
    )
    write_markdown(args.out, header + table + "\n"
                   + environment_line(stored["environment"]) + "\n")
    print(table)


if __name__ == "__main__":
    main()
