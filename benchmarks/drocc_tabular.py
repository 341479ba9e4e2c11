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

Writes ``benchmarks/results/drocc_tabular.md`` and ``.json``.
"""

import argparse
import json
import pathlib
import time
import warnings

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.svm import OneClassSVM

from skdeepad import DROCC, DeepSVDD
from skdeepad._benchmark import environment, write_report
from skdeepad.datasets import (
    load_abalone_outliers,
    load_adbench,
    load_odds,
    make_drocc_split,
    make_half_normal_split,
)
from skdeepad.metrics import anomaly_ratio_f1_score, drocc_f1_score

RESULTS = pathlib.Path(__file__).parent / "results"

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


class _TestTracking(DROCC):
    """DROCC that records the test F1 after every epoch (benchmark only).

    Used solely to show what the reference code's test-set model selection
    would report; the model kept is always the final epoch's.
    """

    def _train(self, *args, **kwargs):
        X_test, y_test, metric = self._tracking
        X_t = self._to_tensor(X_test)

        def record(epoch, _):
            scores = self._score_tensor(X_t).double().cpu().numpy()
            self.test_curve_.append(metric(y_test, scores))

        self.test_curve_ = []
        return super()._train(*args, on_epoch_end=record, **kwargs)


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
                    det = _TestTracking(**DROCC_PARAMS[name], **COMMON, **extra,
                                        random_state=seed)
                    det._tracking = (X_test, y_test, metric)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # arrhythmia's constant columns
                        det.fit(X_train)
                    f1 = metric(y_test, det.score_samples(X_test))
                    records.append(dict(dataset=name, protocol=protocol, seed=seed,
                                        method=method, f1=f1,
                                        test_selected=max(det.test_curve_),
                                        best_epoch=int(np.argmax(det.test_curve_)) + 1,
                                        seconds=time.perf_counter() - tic))
                for method, model in baselines(seed).items():
                    tic = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model.fit(X_train)
                    f1 = metric(y_test, model.score_samples(X_test))
                    records.append(dict(dataset=name, protocol=protocol, seed=seed,
                                        method=method, f1=f1,
                                        seconds=time.perf_counter() - tic))
                print(name, protocol, seed,
                      {r["method"]: round(r["f1"], 3) for r in records[-6:]}, flush=True)
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
            sel = [r for r in records if r["dataset"] == name and r["protocol"] == protocol]
            for m in methods:
                row.append(_cell([r["f1"] for r in sel if r["method"] == m]))
            row.append(_cell([r["test_selected"] for r in sel if r["method"] == "DROCC"]))
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
                        default=["thyroid", "arrhythmia", "abalone", "annthyroid"])
    parser.add_argument("--out", default="drocc_tabular")
    args = parser.parse_args()
    records = run(args.datasets, args.seeds)
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
    RESULTS.mkdir(exist_ok=True)
    write_report(RESULTS / f"{args.out}.md", header + table + "\n" + environment() + "\n")
    (RESULTS / f"{args.out}.json").write_text(json.dumps(
        {"environment": environment(), "drocc_params": DROCC_PARAMS, "common": COMMON,
         "records": records}, indent=1, default=str))
    print(table)


if __name__ == "__main__":
    main()
