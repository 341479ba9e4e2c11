"""Conformal p-values and FDR control (skdeepad.calibration.ConformalDetector).

Protocol: the Deep SAD paper's ODDS protocol of Table 2 (60:40 split per
class, 1 % labeled anomalies, gamma_p = 0, one split per seed, see
``skdeepad.datasets.make_semisupervised_split``), with one change: the
standardisation and min-max scaling are fitted by each conformal model on
its own training rows (a pipeline), not on the whole training split, since a
scaler fitted on the calibration rows makes them look more normal than test
points (on arrhythmia that broke the FDR control of cv5: 0.40 at q = 0.1).  Each detector is wrapped
in ``ConformalDetector`` twice, split conformal (``calibration_size=0.2``)
and 5-fold cross-conformal (``cv=5``), fitted on the training split and asked
which test rows it flags at fdr = 0.05, 0.1, 0.2 (Benjamini-Hochberg, the
whole test split as one family).  Beside it, the detector's own
``contamination`` rule (its ``predict``; the model of the split-conformal
fit, trained on the same 80 %).  Measured per split: the false discovery
proportion (flagged normals / flagged, 0 when nothing is flagged) and the
power (flagged anomalies / test anomalies); the tables give their means
over seeds (the mean FDP estimates the FDR).  Deep SAD trains on the labels;
the unsupervised detectors train on the unlabeled rows, as in Table 2.
Every setting is fixed in advance; nothing is chosen on test data.

``--part pollution`` repeats the split and cross-conformal IsolationForest
and Deep SAD runs with 5 % anomalies among the unlabeled training rows
(gamma_p = 0.05), which then also pollute the calibration set.

Run (resumable: finished records are kept in the JSON file)::

    SKDEEPAD_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/conformal.py --n-jobs 2
    SKDEEPAD_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/conformal.py --part pollution
    python benchmarks/conformal.py --report-only

Writes ``benchmarks/results/conformal.md``, ``.json`` and ``conformal.png``.
"""

import argparse
import time
import warnings

import numpy as np

if __package__:  # python -m benchmarks.conformal
    from ._harness import (RESULTS, environment_line, markdown_table, read_json,
                           recorded_environment, write_json, write_markdown)
else:  # python benchmarks/conformal.py: Python puts benchmarks/ on the import path
    from _harness import (RESULTS, environment_line, markdown_table, read_json,
                          recorded_environment, write_json, write_markdown)

LEVELS = (0.05, 0.1, 0.2)
MODES = {"split": None, "cv5": 5}
DETECTORS = ("DeepSAD", "DeepSVDD", "IsolationForest", "OC-SVM")
POLLUTION_SETS = ("arrhythmia", "cardio", "satellite", "shuttle")
MAIN_SEEDS = 10  # the main table's splits; more seeds go to a separate table


def _detector(name, seed):
    """The detector behind the protocol's scaling (standardise, then min-max), as one
    pipeline: each conformal model scales on its own training rows, never on its
    calibration rows (see ConformalDetector's Notes)."""
    from sklearn.ensemble import IsolationForest
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.svm import OneClassSVM

    from skdeepad import DeepSAD, DeepSVDD

    detector = {"DeepSAD": lambda: DeepSAD(device="cpu", random_state=seed),
                "DeepSVDD": lambda: DeepSVDD(device="cpu", random_state=seed),
                "IsolationForest": lambda: IsolationForest(random_state=seed),
                "OC-SVM": lambda: OneClassSVM(gamma="scale", nu=0.1)}[name]()
    return make_pipeline(StandardScaler(), MinMaxScaler(), detector)


def _rates(flagged, y_test):
    n_flagged = int(flagged.sum())
    false = int((flagged & (y_test == 0)).sum())
    return {"fdp": false / max(n_flagged, 1),
            "power": int((flagged & (y_test == 1)).sum()) / int((y_test == 1).sum()),
            "flagged": n_flagged}


def run_one(dataset, seed, detector, pollution=0.0):
    """Both modes of one detector on one split: a JSON record."""
    import torch
    from sklearn.metrics import roc_auc_score

    from skdeepad.calibration import ConformalDetector
    from skdeepad.datasets import load_odds, make_semisupervised_split

    torch.set_num_threads(1)
    X, y = load_odds(dataset)
    X_train, y_partial, X_test, y_test = make_semisupervised_split(
        X, y, ratio_labeled_anomalies=0.01, ratio_pollution=pollution, standardize=False,
        minmax=False, random_state=seed)  # scaled inside each model, see _detector
    if detector != "DeepSAD":  # unsupervised: the unlabeled rows, as in Table 2
        X_train, y_partial = X_train[y_partial != -1], None
    record = {"dataset": dataset, "seed": seed, "detector": detector, "pollution": pollution,
              "n_test": len(y_test), "n_test_anomalies": int(y_test.sum()), "modes": {}}
    for mode, cv in MODES.items():
        cd = ConformalDetector(_detector(detector, seed), cv=cv, random_state=seed)
        start = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant features of the ODDS files
            cd.fit(X_train, y_partial)
        seconds = time.process_time() - start
        adjusted = cd.adjusted_p_values(X_test)
        out = {"fit_cpu_s": seconds, "n_calibration": cd.n_calibration_,
               "auc": 100 * roc_auc_score(y_test, -cd.score_samples(X_test)),
               "levels": {str(q): _rates(adjusted <= q, y_test) for q in LEVELS}}
        if (dataset, seed) == ("cardio", 0):  # the histogram of the plot
            p = cd.p_values(X_test)
            out["p_normals"] = np.round(p[y_test == 0], 5).tolist()
            out["p_anomalies"] = np.round(p[y_test == 1], 5).tolist()
        if mode == "split":
            out["contamination"] = _rates(cd.estimators_[0].predict(X_test) == -1, y_test)
        record["modes"][mode] = out
    return record


def _key(r):
    return (r["dataset"], r["seed"], r["detector"], r["pollution"])


def _cell(records, get):
    values = [get(r) for r in records]
    return np.mean(values) if values else float("nan")


def report(records, environment):
    """Markdown tables from the records."""
    from skdeepad._benchmark import TABLE2_SETS

    clean = [r for r in records if r["pollution"] == 0 and r["seed"] < MAIN_SEEDS]
    lines = ["# Conformal p-values and FDR control on the ODDS sets of Deep SAD's Table 2", "",
             "`python benchmarks/conformal.py` (see its docstring for the protocol). "
             "Each cell: mean false discovery proportion (the empirical FDR) / mean power "
             "(share of the test anomalies flagged), over the seeds given in the last column. "
             "**Bold**: mean FDR above the nominal level + 0.02. `split`: split conformal, "
             "20 % of the training rows calibrate; `cv5`: 5-fold cross-conformal. "
             "`contamination`: the detector's own `predict` (DeepSAD/DeepSVDD flag 10 % of the "
             "training data, IsolationForest uses its `contamination=\"auto\"`, OC-SVM "
             "nu = 0.1).", "",
             f"Machine and versions: {environment}", ""]
    header = ["dataset", "detector"] + [f"{m} q={q}" for m in MODES for q in LEVELS] + [
        "contamination", "AUC split", "seeds"]
    violations, cells, rows = [], 0, []
    for dataset in TABLE2_SETS:
        for detector in DETECTORS:
            rs = [r for r in clean if r["dataset"] == dataset and r["detector"] == detector]
            if not rs:
                continue
            row = [dataset, detector]
            for mode in MODES:
                for q in LEVELS:
                    fdr = _cell(rs, lambda r: r["modes"][mode]["levels"][str(q)]["fdp"])
                    power = _cell(rs, lambda r: r["modes"][mode]["levels"][str(q)]["power"])
                    cells += 1
                    bad = fdr > q + 0.02
                    if bad:
                        fdps = [r["modes"][mode]["levels"][str(q)]["fdp"] for r in rs]
                        se = np.std(fdps, ddof=1) / np.sqrt(len(fdps))
                        violations.append(f"{dataset}/{detector}/{mode}/q={q}: {fdr:.3f} "
                                          f"(standard error {se:.3f})")
                    text = f"{fdr:.3f} / {power:.2f}"
                    row.append(f"**{text}**" if bad else text)
            row.append("{:.3f} / {:.2f}".format(
                _cell(rs, lambda r: r["modes"]["split"]["contamination"]["fdp"]),
                _cell(rs, lambda r: r["modes"]["split"]["contamination"]["power"])))
            row.append(f"{_cell(rs, lambda r: r['modes']['split']['auc']):.1f}")
            row.append(str(len(rs)))
            rows.append(row)
    lines += markdown_table(header, rows)
    lines += ["", f"Acceptance (mean empirical FDR <= q + 0.02 in every cell): "
              f"{cells - len(violations)} of {cells} cells pass"
              + ("; above: " + "; ".join(violations) if violations else "") + ".", ""]
    lines += _more_seeds_table([r for r in records if r["pollution"] == 0])
    lines += _cost_table(clean)
    lines += _granularity_table(clean)
    lines += _pollution_table(records)
    return "\n".join(lines)


def _more_seeds_table(clean):
    """Rows re-measured with more seeds than the main table (cheap detectors only)."""
    keys = sorted({(r["dataset"], r["detector"]) for r in clean if r["seed"] >= MAIN_SEEDS})
    if not keys:
        return []
    lines = ["## Borderline cells with more seeds", "",
             "The main table's cells average 10 splits, and the false discovery proportion "
             "of one split is noisy (few discoveries). These rows repeat the protocol on "
             "more splits (`--seeds N --datasets ... --detectors ...`); mean FDR "
             "(standard error) / mean power.", ""]
    rows = []
    for dataset, detector in keys:
        rs = [r for r in clean if r["dataset"] == dataset and r["detector"] == detector]
        row = [dataset, detector, str(len(rs))]
        for mode in MODES:
            for q in LEVELS:
                fdps = [r["modes"][mode]["levels"][str(q)]["fdp"] for r in rs]
                power = _cell(rs, lambda r: r["modes"][mode]["levels"][str(q)]["power"])
                se = np.std(fdps, ddof=1) / np.sqrt(len(fdps))
                text = f"{np.mean(fdps):.3f} ({se:.3f}) / {power:.2f}"
                row.append(f"**{text}**" if np.mean(fdps) > q + 0.02 else text)
        rows.append(row)
    header = ["dataset", "detector", "seeds"] + [f"{m} q={q}" for m in MODES for q in LEVELS]
    return lines + markdown_table(header, rows) + [""]


def _cost_table(clean):
    lines = ["## What cross-conformal costs", "",
             "Process CPU seconds of `fit` (one thread), mean over seeds, measured in the "
             "same process one after the other. The 5 fold models of DeepSAD and DeepSVDD "
             "train as one stack (`fit_stacked`); IsolationForest and OC-SVM fit 5 times.", ""]
    rows = []
    for dataset in dict.fromkeys(r["dataset"] for r in clean):
        for detector in DETECTORS:
            rs = [r for r in clean if r["dataset"] == dataset and r["detector"] == detector]
            if not rs:
                continue
            split = _cell(rs, lambda r: r["modes"]["split"]["fit_cpu_s"])
            cv = _cell(rs, lambda r: r["modes"]["cv5"]["fit_cpu_s"])
            rows.append([dataset, detector, f"{split:.1f}", f"{cv:.1f}", f"{cv / split:.2f}"])
    header = ["dataset", "detector", "split fit (s)", "cv5 fit (s)", "ratio"]
    return lines + markdown_table(header, rows) + [""]


def _granularity_table(clean):
    """Why power can be low: the smallest p-value against BH's first threshold."""
    lines = ["## Where power is low, and why", "",
             "No p-value is below 1 / (n_cal + 1). Benjamini-Hochberg flags the k smallest "
             "p-values only if the k-th is <= k q / m (m = test rows). With split conformal "
             "and m test rows, even a perfect ranking of the a test anomalies can be flagged "
             "only when 1 / (n_cal + 1) <= a q / m. The table gives, per set, the smallest "
             "level q at which the best possible ranking could be flagged at all, "
             "m / (a (n_cal + 1)): where it is near or above the nominal level, split "
             "conformal has little or no power however good the detector, and the 5-fold "
             "cross-conformal detector (about 5 times more calibration scores) is the remedy.", ""]
    rows = []
    for dataset in dict.fromkeys(r["dataset"] for r in clean):
        r = next(r for r in clean if r["dataset"] == dataset and r["detector"] == "DeepSAD") \
            if any(r["dataset"] == dataset and r["detector"] == "DeepSAD" for r in clean) \
            else next(r for r in clean if r["dataset"] == dataset)
        m, a = r["n_test"], r["n_test_anomalies"]
        ns, nc = r["modes"]["split"]["n_calibration"], r["modes"]["cv5"]["n_calibration"]
        rows.append([dataset, m, a, ns, f"{m / (a * (ns + 1)):.3f}", nc,
                     f"{m / (a * (nc + 1)):.3f}"])
    header = ["dataset", "test rows m", "test anomalies a", "n_cal split", "smallest q, split",
              "n_cal cv5", "smallest q, cv5"]
    return lines + markdown_table(header, rows) + [""]


def _pollution_table(records):
    polluted = [r for r in records if r["pollution"] > 0]
    if not polluted:
        return []
    lines = ["## Polluted calibration data (gamma_p = 0.05)", "",
             "`--part pollution`: 5 % of the unlabeled training rows are anomalies, so about "
             "5 % of the calibration rows are too. Same cells as above (FDR / power), beside "
             "the clean runs of the same seeds. Anomalies that score as anomalies take the "
             "lowest calibration ranks, so the p-values of normal points grow: fewer "
             "discoveries, FDR still controlled.", ""]
    rows = []
    for dataset in POLLUTION_SETS:
        for detector in DETECTORS:
            rs_p = [r for r in polluted if r["dataset"] == dataset and r["detector"] == detector]
            seeds = {r["seed"] for r in rs_p}
            rs_c = [r for r in records if r["pollution"] == 0 and r["dataset"] == dataset
                    and r["detector"] == detector and r["seed"] in seeds]
            for rs in (rs_c, rs_p):
                if not rs_p or not rs:
                    continue
                row = [dataset, detector, f"{rs[0]['pollution']:.2f}"]
                for mode in MODES:
                    for q in LEVELS:
                        fdr = _cell(rs, lambda r: r["modes"][mode]["levels"][str(q)]["fdp"])
                        power = _cell(rs, lambda r: r["modes"][mode]["levels"][str(q)]["power"])
                        text = f"{fdr:.3f} / {power:.2f}"
                        row.append(f"**{text}**" if fdr > q + 0.02 else text)
                row.append(str(len(rs)))
                rows.append(row)
    header = ["dataset", "detector", "gamma_p"] + [
        f"{m} q={q}" for m in MODES for q in LEVELS] + ["seeds"]
    return lines + markdown_table(header, rows) + [""]


def plot(records, path):
    """Realised FDR against the nominal level, and the p-values of one split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clean = [r for r in records if r["pollution"] == 0 and r["seed"] < MAIN_SEEDS]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    for mode, marker in zip(MODES, "os"):
        for detector, color in zip(DETECTORS, ("C0", "C1", "C2", "C3")):
            rs = [r for r in clean if r["detector"] == detector]
            if not rs:
                continue
            fdrs = [_cell(rs, lambda r: r["modes"][mode]["levels"][str(q)]["fdp"]) for q in LEVELS]
            ax.plot(LEVELS, fdrs, marker=marker, color=color,
                    linestyle="-" if mode == "split" else "--", label=f"{detector} {mode}")
    ax.plot([0, 0.22], [0, 0.22], "k:", label="nominal")
    ax.set(xlabel="nominal FDR q", ylabel="empirical FDR (mean over sets and seeds)",
           title="FDR is controlled")
    ax.legend(fontsize=7)
    ax = axes[1]
    width = 0.2
    for i, detector in enumerate(DETECTORS):
        rs = [r for r in clean if r["detector"] == detector]
        if not rs:
            continue
        powers = [_cell(rs, lambda r: r["modes"][mode]["levels"]["0.1"]["power"]) for mode in MODES]
        powers.append(_cell(rs, lambda r: r["modes"]["split"]["contamination"]["power"]))
        ax.bar(np.arange(3) + i * width, powers, width, label=detector)
    ax.set_xticks(np.arange(3) + 1.5 * width, ["split, q=0.1", "cv5, q=0.1", "contamination"])
    ax.set(ylabel="power (mean over sets and seeds)", title="Power")
    ax.legend(fontsize=7)
    ax = axes[2]
    example = next((r for r in clean if r["dataset"] == "cardio" and r["seed"] == 0
                    and r["detector"] == "DeepSAD"), None)
    if example is not None:
        p = example["modes"]["cv5"]
        bins = np.linspace(0, 1, 21)
        ax.hist(p["p_normals"], bins=bins, density=True, alpha=0.6, label="normal test rows")
        ax.hist(p["p_anomalies"], bins=bins, density=True, alpha=0.6, label="anomalies")
        ax.set(xlabel="conformal p-value", ylabel="density",
               title="DeepSAD cv5 on cardio, seed 0: p-values")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    from joblib import Parallel, delayed

    from skdeepad._benchmark import TABLE2_SETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["main", "pollution"], default="main")
    parser.add_argument("--datasets", nargs="*", choices=TABLE2_SETS, default=None)
    parser.add_argument("--detectors", nargs="*", choices=DETECTORS, default=None)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite conformal.md and conformal.png from conformal.json "
                             "(keeps the JSON and the environment line of the table)")
    args = parser.parse_args()
    records = read_json("conformal")["records"] if (RESULTS / "conformal.json").exists() else []
    # --report-only keeps the machine-and-versions line the table was written with
    env = environment_line(recorded_environment("conformal", prefix="Machine and versions: ",
                                                markdown_first=True)
                           if args.report_only else None)
    if not args.report_only:
        pollution = 0.05 if args.part == "pollution" else 0.0
        datasets = args.datasets or (POLLUTION_SETS if pollution else TABLE2_SETS)
        detectors = args.detectors or (("IsolationForest", "DeepSAD") if pollution else DETECTORS)
        done = {_key(r) for r in records}
        # Largest set last and seed by seed, so a stopped run covers every detector.
        jobs = [(d, s, m, pollution) for d in sorted(datasets, key=lambda d: d == "shuttle")
                for s in range(args.seeds) for m in detectors
                if (d, s, m, pollution) not in done]
        print(f"{len(jobs)} jobs", flush=True)
        for record in Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(
                delayed(run_one)(*job) for job in jobs):
            records.append(record)
            write_json("conformal", {"environment": env, "records": records})
            print(f"{record['dataset']} seed {record['seed']} {record['detector']} "
                  f"(pollution {record['pollution']}): done", flush=True)
    write_markdown("conformal", report(records, env))
    plot(records, RESULTS / "conformal.png")


if __name__ == "__main__":
    main()
