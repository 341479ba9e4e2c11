"""Miniature of the Deep SAD paper's scenarios (i)-(iii) (Figures 2-4, Tables 3-5) on MNIST.

One digit is normal, the nine others are anomalies.  The paper trains on the
60 000 MNIST training images; only the 10 000-image test split is at hand
here, so each setup uses its ~1 000 images per digit (60 % training, 40 %
test, every test class kept so that anomalies of classes never labeled are
novel at test time).  Scenarios, with the others at gamma_l = 0.05,
gamma_p = 0.1, k_l = 1 as in the paper:

(i)   ratio of labeled anomalies gamma_l in {0, .01, .05, .1, .2}, gamma_p = 0;
(ii)  pollution gamma_p in {0, .01, .05, .1, .2};
(iii) number of known anomaly classes k_l in {0, 1, 2, 3, 5}.

Methods: Deep SAD, IsolationForest on the raw pixels, the hybrid SSAD and
hybrid OC-SVM (on the bottleneck of
the same convolutional autoencoder), and the supervised binary classifier.
The autoencoder is trained once per training set on its unlabeled rows; Deep
SAD starts from its encoder (the paper's pretraining, shared instead of
repeated).  Nothing is tuned on test data: OC-SVM gamma="scale", nu = 0.1;
SSAD gamma="scale", kappa = eta_u = eta_l = 1; deep methods at the paper's
settings except the epoch budget (see ``DEEP``).

Besides the AUC on all test anomalies, every run records the AUC on the
anomalies of classes that were *not* labeled (novel classes), which is where
the paper says a supervised classifier fails.

Run: ``python benchmarks/mnist_scenarios.py --n-jobs 2`` (all ten digits,
two seeds: 2-3 CPU hours; ``--normal-classes 0 3 --seeds 1`` is a
smaller run); writes ``results/mnist_scenarios.{md,json,png}``.
``python benchmarks/mnist_scenarios.py --write-only`` rewrites the md and
the png from the JSON, fitting nothing.

The JSON holds harness records (``benchmarks/_harness.py``): one per digit,
seed, scenario value, method and score, ``dataset="MNIST digit 3"``,
``protocol="(ii) pollution gamma_p = 0.05"``, ``metric`` "AUC (%)" or "AUC
(%), novel classes" (only where anomalies were labeled); ``extra`` keeps the
scenario, its value, the known anomaly classes and the wall seconds of the
setup (digit, seed, scenario).  Beside them: the settings of the report
(digits, seeds, epochs) and the environment line of the run (and, where the
report was written later than the last setup, ``report_environment``, the
line it prints).  A run skips the setups already stored, so it can be
resumed.
"""

import argparse
import json
import pathlib
import time
import warnings
from functools import partial

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.svm import OneClassSVM

from skdeepad import SSAD, AutoEncoderFeatures, DeepBinaryClassifier, DeepSAD
from skdeepad._benchmark import write_report
from skdeepad.datasets import load_mnist_test, make_one_vs_rest_scenario

if __package__:  # python -m benchmarks.mnist_scenarios
    from ._harness import (RESULTS, Record, dumps, environment_line, records_from_json,
                           records_to_json)
else:  # python benchmarks/mnist_scenarios.py: Python puts benchmarks/ on the import path
    from _harness import (RESULTS, Record, dumps, environment_line, records_from_json,
                          records_to_json)

METHODS = ["Deep SAD", "SSAD hybrid", "OC-SVM hybrid", "Supervised classifier",
           "IsolationForest", "Deep SAD, random init", "Deep SAD, 150 epochs"]
#: The ablations run on the scenarios that vary the labels only.
ABLATION_SCENARIOS = ("(i) labeled anomalies gamma_l", "(iii) known anomaly classes k_l")
#: The paper's Deep SAD schedule: 150 epochs, lr / 10 after 50.
PAPER_SCHEDULE = {"epochs": 150, "lr_milestones": (50,)}
DEFAULTS = {"gamma_l": 0.05, "gamma_p": 0.1, "k_l": 1}
SCENARIOS = {
    "(i) labeled anomalies gamma_l": ("gamma_l", [0.0, 0.01, 0.05, 0.1, 0.2], {"gamma_p": 0.0}),
    "(ii) pollution gamma_p": ("gamma_p", [0.0, 0.01, 0.05, 0.1, 0.2], {}),
    "(iii) known anomaly classes k_l": ("k_l", [0, 1, 2, 3, 5], {}),
}
#: The paper's settings (Adam, lr 1e-4, weight decay 1e-6, LeNet 8-4-32) with a
#: smaller epoch budget and batch, since each setup has ~700 training images
#: instead of ~7 000 and the CPU budget is small: 30 epochs of batch 64 (~330
#: steps), lr / 10 after a third.
DEEP = {"epochs": 30, "batch_size": 64, "lr_milestones": (10,), "device": "cpu"}

#: Ruff et al. (2020), Tables 3-5, MNIST rows: mean AUC (%) per method and value.
PAPER = {
    "(i) labeled anomalies gamma_l": {
        "Deep SAD": [92.8, 96.4, 96.7, 96.9, 96.9], "SSAD hybrid": [96.3, 96.8, 97.4, 97.6, 97.8],
        "OC-SVM hybrid": [96.3] * 5, "Supervised classifier": [None, 92.8, 94.5, 95.0, 95.6],
        "IsolationForest": [85.4] * 5},
    "(ii) pollution gamma_p": {
        "Deep SAD": [96.7, 95.5, 93.5, 91.2, 86.6], "SSAD hybrid": [97.4, 95.2, 89.5, 86.0, 82.1],
        "OC-SVM hybrid": [96.3, 95.6, 93.8, 91.4, 85.9],
        "Supervised classifier": [94.5, 91.5, 86.7, 83.6, 79.7],
        "IsolationForest": [85.4, 85.2, 83.9, 82.3, 78.7]},
    "(iii) known anomaly classes k_l": {
        "Deep SAD": [86.5, 91.2, 92.0, 94.7, 97.3], "SSAD hybrid": [91.4, 86.0, 87.7, 89.8, 91.9],
        "OC-SVM hybrid": [91.4] * 5, "Supervised classifier": [None, 83.6, 90.3, 93.9, 96.9],
        "IsolationForest": [82.3] * 5},
}


def _auc(y_true, normality):
    return 100.0 * roc_auc_score(y_true, -normality)


def _splits(X, classes, normal, seed, scenario):
    """The training and test sets of every value of one scenario."""
    param, values, fixed = SCENARIOS[scenario]
    for value in values:
        setting = {**DEFAULTS, **fixed, param: value}
        # Split indices, then index the images, to keep the test classes.
        idx_train, y_partial, idx_test, y_test, known = make_one_vs_rest_scenario(
            np.arange(len(X))[:, None], classes, normal_class=normal,
            n_known_anomaly_classes=setting["k_l"],
            ratio_labeled_anomalies=setting["gamma_l"] if setting["k_l"] else 0.0,
            ratio_pollution=setting["gamma_p"], random_state=seed)
        novel = ~np.isin(classes[idx_test[:, 0]], known)  # normals and novel anomalies
        yield (value, X[idx_train[:, 0]], y_partial, idx_train[:, 0], X[idx_test[:, 0]],
               y_test, known, novel)


def _row(scenario, value, normal, seed, method, known, y_test, novel, labeled, score):
    return {"scenario": scenario, "value": value, "normal": int(normal), "seed": seed,
            "method": method, "known": known.tolist(), "auc": _auc(y_test, score),
            "auc_novel": _auc(y_test[novel], score[novel]) if labeled else None}


def isolation_forest_rows(X, classes, normal, seed, scenario):
    """IsolationForest on the raw pixels (100 trees, 256 sub-samples), same splits."""
    rows = []
    for value, X_train, y_partial, _, X_test, y_test, known, novel in _splits(
            X, classes, normal, seed, scenario):
        forest = IsolationForest(random_state=seed).fit(
            X_train[y_partial != -1].reshape(int((y_partial != -1).sum()), -1))
        score = forest.score_samples(X_test.reshape(len(X_test), -1))
        rows.append(_row(scenario, value, normal, seed, "IsolationForest", known, y_test,
                         novel, bool((y_partial == -1).any()), score))
    return rows


def _autoencoders(seed, deep):
    """``features(X_train, y_partial, idx_train)``: the scenario's autoencoder,
    trained once per distinct set of unlabeled rows (values often share it)."""
    cache = {}

    def features(X_train, y_partial, idx_train):
        key = hash(idx_train[y_partial != -1].tobytes())
        if key not in cache:
            cache[key] = AutoEncoderFeatures(random_state=seed, **deep).fit(X_train, y_partial)
        return cache[key]

    return features


#: Ablations of Deep SAD on the label scenarios: name -> (seed, deep
#: settings, encoder) -> unfitted detector, where ``encoder()`` returns the
#: main row's pretrained encoder (trained on first use).
#:
#: - random init: the authors' code fails to copy the pretrained encoder
#:   into the Deep SAD network (``shared/specs/deep_sad.md`` §6), so the
#:   paper's numbers come from a randomly initialised LeNet whose centre is
#:   its initial mean output; ``pretrain=False`` is that run;
#: - 150 epochs: the main row's pretrained encoder, then Deep SAD on the
#:   paper's schedule (about 1 600 steps at batch 64 instead of 330).
ABLATIONS = {
    "Deep SAD, random init": lambda seed, deep, encoder: DeepSAD(
        pretrain=False, random_state=seed, **deep),
    "Deep SAD, 150 epochs": lambda seed, deep, encoder: DeepSAD(
        network=encoder(), pretrain=False, random_state=seed,
        **{**deep, **PAPER_SCHEDULE}),
}


def ablation_rows(method, X, classes, normal, seed, scenario, deep=DEEP, features=None):
    """One ablation of :data:`ABLATIONS` on every value of a label scenario.

    ``features`` is the setup's autoencoder cache (:func:`_autoencoders`)
    when the main rows already trained it; a new one otherwise.
    """
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rows = []
    if scenario not in ABLATION_SCENARIOS:
        return rows
    features = features or _autoencoders(seed, deep)
    for value, X_train, y_partial, idx_train, X_test, y_test, known, novel in _splits(
            X, classes, normal, seed, scenario):
        encoder = partial(lambda *a: features(*a).network_.encoder, X_train, y_partial,
                          idx_train)
        det = ABLATIONS[method](seed, deep, encoder).fit(X_train, y_partial)
        rows.append(_row(scenario, value, normal, seed, method, known, y_test, novel,
                         bool((y_partial == -1).any()), det.score_samples(X_test)))
    return rows


def run_setup(X, classes, normal, seed, scenario, deep=DEEP):
    """Every value of one scenario for one normal digit and one seed."""
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    features = _autoencoders(seed, deep)
    rows = []
    for value, X_train, y_partial, idx_train, X_test, y_test, known, novel in _splits(
            X, classes, normal, seed, scenario):
        feats = features(X_train, y_partial, idx_train)
        Z_train, Z_test = feats.transform(X_train), feats.transform(X_test)
        has_labels = bool((y_partial == -1).any())
        scores = {
            "Deep SAD": DeepSAD(network=feats.network_.encoder, pretrain=False,
                                random_state=seed, **deep).fit(X_train, y_partial),
            "SSAD hybrid": SSAD().fit(Z_train, y_partial),
            "OC-SVM hybrid": OneClassSVM(gamma="scale", nu=0.1).fit(
                Z_train[y_partial != -1]),
            "Supervised classifier": DeepBinaryClassifier(random_state=seed, **deep).fit(
                X_train, y_partial) if has_labels else None,
        }
        for method, est in scores.items():
            if est is None:
                continue  # no labeled anomaly: the classifier has nothing to learn from
            score = est.score_samples(Z_test if "hybrid" in method else X_test)
            rows.append(_row(scenario, value, normal, seed, method, known, y_test, novel,
                             has_labels, score))
    rows += isolation_forest_rows(X, classes, normal, seed, scenario)
    for method in ABLATIONS:
        rows += ablation_rows(method, X, classes, normal, seed, scenario, deep, features)
    return {"normal": int(normal), "seed": seed, "scenario": scenario, "rows": rows,
            "seconds": time.perf_counter() - start}


#: The scores of a row and the metrics of their records.
METRICS = {"auc": "AUC (%)", "auc_novel": "AUC (%), novel classes"}


def runs_to_records(runs):
    """``{"digit|seed|scenario": setup}`` as records: one per row and score (no novel-class
    score where no anomaly was labeled)."""
    records = []
    for run in runs.values():
        for row in run["rows"]:
            extra = {"scenario": row["scenario"], "value": row["value"], "known": row["known"],
                     "setup_seconds": run["seconds"]}
            records += [Record(f"MNIST digit {row['normal']}", row["method"], row["seed"],
                               f"{row['scenario']} = {row['value']}", metric, float(row[field]),
                               extra=extra)
                        for field, metric in METRICS.items() if row[field] is not None]
    return records


def records_to_runs(records):
    """The ``{"digit|seed|scenario": setup}`` of :func:`run_setup`, back from the records."""
    field = {metric: f for f, metric in METRICS.items()}
    runs, rows = {}, {}
    for rec in records:
        normal, scenario, value = (int(rec.dataset.split()[-1]), rec.extra["scenario"],
                                   rec.extra["value"])
        key = f"{normal}|{rec.seed}|{scenario}"
        run = runs.setdefault(key, {"normal": normal, "seed": rec.seed, "scenario": scenario,
                                    "rows": [], "seconds": rec.extra["setup_seconds"]})
        row = rows.get((key, value, rec.method))
        if row is None:
            row = rows[key, value, rec.method] = {
                "scenario": scenario, "value": value, "normal": normal, "seed": rec.seed,
                "method": rec.method, "known": rec.extra["known"], "auc": None,
                "auc_novel": None}
            run["rows"].append(row)
        row[field[rec.metric]] = rec.value
    return runs


_I, _II, _III = SCENARIOS
#: Paired comparisons on the same digit, seed and split:
#: (scenario, score, (method, value), (method, value)); "score" is "auc" or
#: "auc_novel" (the anomaly classes never labeled).
PAIRED = [
    *[(_I, "auc", (m, 0.2), (m, 0.0))
      for m in ("Deep SAD", "Deep SAD, 150 epochs", "Deep SAD, random init")],
    (_I, "auc", ("Deep SAD", 0.0), ("Deep SAD, random init", 0.0)),
    *[(_I, "auc_novel", ("Deep SAD", v), ("Supervised classifier", v)) for v in (0.01, 0.2)],
    *[(_II, "auc", (m, 0.2), (m, 0.0)) for m in METHODS[:5]],
    *[(_III, "auc", (m, 5), (m, 0))
      for m in ("Deep SAD", "Deep SAD, 150 epochs", "Deep SAD, random init")],
    (_III, "auc_novel", ("Deep SAD", 5), ("Supervised classifier", 5)),
]


def paired_markdown(rows):
    """Each comparison of :data:`PAIRED`: mean difference and how many setups
    (digit, seed) have the first above the second."""
    by = {(r["scenario"], r["method"], r["value"], r["normal"], r["seed"]): r for r in rows}
    setups = sorted({(r["normal"], r["seed"]) for r in rows})
    lines = ["| scenario | AUC on | first | second | mean first - second | first higher |",
             "|---|---|---|---|---|---|"]
    for scenario, score, (m1, v1), (m2, v2) in PAIRED:
        first = {s: by.get((scenario, m1, v1, *s)) for s in setups}
        second = {s: by.get((scenario, m2, v2, *s)) for s in setups}
        diffs = [first[s][score] - second[s][score] for s in setups if first[s] and second[s]]
        if diffs:
            lines.append(f"| {scenario.split()[0]} | "
                         f"{'novel classes' if score == 'auc_novel' else 'all anomalies'} | "
                         f"{m1} at {v1} | {m2} at {v2} | {np.mean(diffs):+.2f} | "
                         f"{sum(d > 0 for d in diffs)} of {len(diffs)} |")
    return "\n".join(lines)


def summarise(rows):
    """(scenario, value, method) -> (mean, std, mean novel-class AUC, n runs)."""
    out = {}
    for r in rows:
        out.setdefault((r["scenario"], r["value"], r["method"]), []).append(r)
    return {k: (np.mean([r["auc"] for r in v]), np.std([r["auc"] for r in v]),
                np.mean([r["auc_novel"] for r in v]) if v[0]["auc_novel"] is not None else None,
                len(v))
            for k, v in out.items()}


def to_markdown(summary):
    lines = []
    for scenario, (param, values, _) in SCENARIOS.items():
        lines += [f"### {scenario}", "",
                  "| method | " + " | ".join(f"{param} = {v}" for v in values) + " |",
                  "|---|" + "---|" * len(values)]
        for m in METHODS:
            cells = []
            for i, v in enumerate(values):
                s = summary.get((scenario, v, m))
                paper = PAPER[scenario].get(m, [None] * len(values))[i]
                cell = f"{s[0]:.1f} ± {s[1]:.1f}" if s else "n/a"
                cells.append(cell + (f" ({paper:.1f})" if paper is not None else ""))
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines += ["", "AUC (%) on the anomalies of classes never labeled (novel classes only):",
                  "", "| method | " + " | ".join(f"{param} = {v}" for v in values) + " |",
                  "|---|" + "---|" * len(values)]
        for m in METHODS:
            cells = []
            for v in values:
                s = summary.get((scenario, v, m))
                cells.append(f"{s[2]:.1f}" if s and s[2] is not None else "n/a")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (scenario, (param, values, _)) in zip(axes, SCENARIOS.items()):
        for m in METHODS:
            pts = [(v, summary[(scenario, v, m)]) for v in values if (scenario, v, m) in summary]
            xs = np.arange(len(values))[[values.index(v) for v, _ in pts]]
            line = ax.errorbar(xs, [s[0] for _, s in pts], yerr=[s[1] for _, s in pts],
                               marker="o", capsize=3, label=m)
            paper = PAPER[scenario].get(m, [None] * len(values))
            ax.plot([i for i, p in enumerate(paper) if p is not None],
                    [p for p in paper if p is not None], ls=":", color=line[0].get_color())
        ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set_xlabel(param)
        ax.set_title(scenario, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("AUC (%)")
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("MNIST-test miniature of Deep SAD Figures 2-4 (solid: ours, dotted: paper)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def run(args, json_path):
    """Fit the setups (digit, seed, scenario) that ``json_path`` lacks, storing each one."""
    X, classes = load_mnist_test(return_X_y=True)
    X = X.astype(np.float32) / 255.0  # the reference code's only preprocessing
    deep = {**DEEP, "epochs": args.epochs, "lr_milestones": (max(1, args.epochs // 3),)}
    stored = json.loads(json_path.read_text()) if json_path.exists() else {}
    runs = records_to_runs(records_from_json(stored.get("records", [])))
    settings = {"normal_classes": args.normal_classes, "seeds": args.seeds,
                "epochs": args.epochs}

    def store():
        nonlocal stored
        stored = {"environment": environment_line(), "settings": settings,
                  "records": records_to_json(runs_to_records(runs))}
        json_path.write_text(dumps(stored))

    # Every finished (digit, seed, scenario) is stored, so a run can be resumed.
    jobs = [(c, s, sc) for s in range(args.seeds) for c in args.normal_classes
            for sc in SCENARIOS if f"{c}|{s}|{sc}" not in runs]
    for r in Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(
            delayed(run_setup)(X, classes, c, s, sc, deep) for c, s, sc in jobs):
        runs[f"{r['normal']}|{r['seed']}|{r['scenario']}"] = r
        store()
        print(f"digit {r['normal']} seed {r['seed']} {r['scenario']}: {r['seconds']:.0f} s",
              flush=True)
    added_later = {"IsolationForest": isolation_forest_rows,
                   **{m: partial(ablation_rows, m, deep=deep) for m in ABLATIONS}}
    for r in _selected(runs, settings):  # runs stored before these methods joined the table
        for method, rows_of in added_later.items():
            if not any(row["method"] == method for row in r["rows"]):
                r["rows"] += rows_of(X, classes, r["normal"], r["seed"], r["scenario"])
                store()
    if stored.get("settings") != settings:  # a report of stored setups only
        stored["settings"] = settings
        json_path.write_text(dumps(stored))


def _selected(runs, settings):
    """The stored setups of the report's digits and seeds."""
    return [r for r in runs.values()
            if r["normal"] in settings["normal_classes"] and r["seed"] < settings["seeds"]]


def write(stored, out):
    """Write the md and the png of a stored run (its JSON as a dict) and return the md."""
    settings = stored["settings"]
    env = environment_line(stored.get("report_environment", stored["environment"]))
    runs = _selected(records_to_runs(records_from_json(stored["records"])), settings)
    rows = [row for r in runs for row in r["rows"]]
    summary = summarise(rows)
    plot(summary, out.with_suffix(".png"))
    digits, seeds = settings["normal_classes"], settings["seeds"]
    md = [
        "# Deep SAD scenarios (i)-(iii), MNIST-test miniature",
        "",
        f"**A miniature**, not the paper's experiment: normal digits {digits}, "
        f"{seeds} seed{'s' if seeds > 1 else ''} each (the paper: all ten digits, "
        "90-100 experiments per point, the 60 000 training images), ~600 normal training "
        "images per setup, "
        f"{settings['epochs']} epochs of batch 64 for every network (the paper: 150 + 150). "
        "AUC (%) mean ± std over setups; the paper's MNIST "
        "figure (Tables 3-5) in brackets. Same splits for all methods; nothing tuned on test "
        "data. The supervised classifier needs labeled anomalies, so it has no entry at "
        "gamma_l = 0 or k_l = 0.",
        "",
        "*Deep SAD, random init* is an ablation on the two label scenarios: Deep SAD "
        "trained from a randomly initialised LeNet (`pretrain=False`, centre = initial mean "
        "output), which is what the authors' code runs, because it fails to copy the "
        "pretrained encoder (`shared/specs/deep_sad.md` §6); *Deep SAD* is the paper's "
        "stated method (encoder from the autoencoder). The paper's numbers in brackets come "
        "from the code, so they compare with the ablation row. *Deep SAD, 150 epochs* is "
        "the second ablation on those scenarios: the main row's pretrained encoder, then "
        "Deep SAD on the paper's schedule (150 epochs, lr / 10 after 50; about 1 600 steps "
        "instead of the miniature's 330, of which only 110 at lr 1e-4).",
        "",
        to_markdown(summary),
        "![scenarios](mnist_scenarios.png)",
        "",
        "### Paired comparisons",
        "",
        "Differences of AUC (points) between two cells on the same digit, seed and split; "
        "the last column counts the setups where the first is higher.",
        "",
        paired_markdown(rows),
        "",
        f"Environment: {env}",
    ]
    write_report(out.with_suffix(".md"), "\n".join(md))
    return "\n".join(md)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--normal-classes", type=int, nargs="*", default=list(range(10)))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=DEEP["epochs"],
                        help="epochs of every network (a smoke test uses 1)")
    parser.add_argument("--output", default=str(RESULTS / "mnist_scenarios"))
    parser.add_argument("--write-only", action="store_true",
                        help="only rewrite the md and the png from the JSON (its settings and "
                             "environment line), fitting nothing")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.output)
    if not args.write_only:
        run(args, out.with_suffix(".json"))
    print(write(json.loads(out.with_suffix(".json").read_text()), out))


if __name__ == "__main__":
    main()
