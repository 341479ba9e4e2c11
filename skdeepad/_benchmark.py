"""The package's main job: the Deep SAD paper's ODDS benchmark (Table 2).

``python -m skdeepad`` runs Deep SVDD, Deep SAD, Isolation Forest and OC-SVM
on the paper's six ODDS sets with the paper's protocol (60:40 split, 1 %
labeled anomalies, no pollution, one split per seed) and prints mean +- std
AUC beside the paper's figures.  Sets missing from the data home are
downloaded; with no data and no network it falls back to anomaly tasks built
from datasets scikit-learn ships, and says so.  Nothing is tuned on test data.
"""

import argparse
import datetime
import pathlib
import platform
import sys

import numpy as np
from joblib import Parallel, delayed
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.svm import OneClassSVM
from tqdm.auto import tqdm

from . import DeepSAD, DeepSVDD
from .datasets import DataNotFoundError, load_odds, make_bundled_tasks, make_semisupervised_split

__all__ = ["PAPER_TABLE2", "TABLE2_SETS", "main", "run_benchmark", "to_markdown"]

TABLE2_SETS = ("arrhythmia", "cardio", "satellite", "satimage-2", "shuttle", "thyroid")

#: Ruff et al. (2020), Table 2: mean and std AUC (%) over 10 seeds.
PAPER_TABLE2 = {
    "Deep SVDD": {"arrhythmia": (74.6, 9.0), "cardio": (84.8, 3.6), "satellite": (79.8, 4.1),
                  "satimage-2": (98.3, 1.4), "shuttle": (86.3, 7.5), "thyroid": (72.0, 9.7)},
    "Deep SAD": {"arrhythmia": (75.9, 8.7), "cardio": (95.0, 1.6), "satellite": (91.5, 1.1),
                 "satimage-2": (99.9, 0.1), "shuttle": (98.4, 0.9), "thyroid": (98.6, 0.9)},
    "OC-SVM": {"arrhythmia": (84.5, 3.9), "cardio": (98.5, 0.3), "satellite": (95.1, 0.2),
               "satimage-2": (99.4, 0.8), "shuttle": (99.4, 0.9), "thyroid": (98.3, 0.9)},
}


def default_methods(epochs=None):
    """Name -> ``factory(seed) -> estimator`` of the main table's methods.

    Deep methods use their paper defaults (``epochs`` overrides both the
    training and pretraining epochs, for quick runs); IF uses t = 100 trees
    and psi = min(256, n) (Appendix E); OC-SVM uses gamma="scale" and nu = 0.1, fixed in advance
    (the paper chose its OC-SVM parameters on 10 % of the test set).
    """
    deep = {} if epochs is None else {"epochs": epochs, "pretrain_epochs": epochs}
    return {
        "Deep SVDD": lambda seed: DeepSVDD(random_state=seed, device="cpu", **deep),
        "Deep SAD": lambda seed: DeepSAD(random_state=seed, device="cpu", **deep),
        "IsolationForest": lambda seed: IsolationForest(n_estimators=100, max_samples="auto",
                                                        random_state=seed),
        "OC-SVM": lambda seed: OneClassSVM(gamma="scale", nu=0.1),
    }


def load_tasks(names=TABLE2_SETS, data_home=None, download=True):
    """Load the ODDS sets; fall back to scikit-learn's bundled data when none is at hand."""
    tasks, missing = {}, []
    for name in names:
        try:
            tasks[name] = load_odds(name, data_home=data_home, download=download)
        except DataNotFoundError as exc:
            missing.append((name, exc))
    note = ""
    if missing:
        note = "Not available (offline and not in the data home): " + ", ".join(
            n for n, _ in missing) + "."
    if not tasks:
        tasks = make_bundled_tasks(random_state=0)
        note += (" No ODDS file could be found or downloaded, so the benchmark runs on "
                 "anomaly tasks built from datasets scikit-learn ships instead: "
                 + ", ".join(tasks) + ". These are not the paper's sets.")
    return tasks, note.strip()


def _uses_labels(estimator):
    return isinstance(estimator, DeepSAD) or getattr(estimator, "_uses_labels", False)


def _run_one(task, X, y, seed, method, factory, ratio_labeled_anomalies):
    import torch

    torch.set_num_threads(1)
    X_train, y_partial, X_test, y_test = make_semisupervised_split(
        X, y, ratio_labeled_anomalies=ratio_labeled_anomalies, random_state=seed)
    est = factory(seed)
    if _uses_labels(est):
        est.fit(X_train, y_partial)
    else:  # unsupervised: train on the unlabeled (and known normal) data
        est.fit(X_train[y_partial != -1])
    score = getattr(est, "anomaly_score", None)
    anomaly = score(X_test) if score else -est.score_samples(X_test)
    return task, method, seed, 100.0 * roc_auc_score(y_test, anomaly)


def run_benchmark(tasks, methods, seeds=range(10), ratio_labeled_anomalies=0.01,
                  n_jobs=1, progress=True):
    """AUC (%) of every method on every task and seed: ``{(task, method): [auc, ...]}``,
    each list in seed order (so methods can be compared seed by seed)."""
    jobs = [(t, X, y, s, m, f) for t, (X, y) in tasks.items() for m, f in methods.items()
            for s in seeds]
    out = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_run_one)(*job, ratio_labeled_anomalies) for job in jobs)
    by_seed = {}
    for task, method, seed, auc in tqdm(out, total=len(jobs), disable=not progress,
                                        desc="ODDS benchmark"):
        by_seed.setdefault((task, method), {})[seed] = auc
    return {key: [aucs[s] for s in sorted(aucs)] for key, aucs in by_seed.items()}


def to_markdown(results, tasks, methods, paper=PAPER_TABLE2):
    """Mean +- std table, with the paper's figure beside each method it reports."""
    header = ["dataset"]
    for m in methods:
        header.append(m)
        if m in paper:
            header.append(f"{m} (paper)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in tasks:
        row = [t]
        for m in methods:
            aucs = results.get((t, m), [])
            row.append(f"{np.mean(aucs):.1f} ± {np.std(aucs):.1f}" if aucs else "n/a")
            if m in paper:
                p = paper[m].get(t)
                row.append(f"{p[0]:.1f} ± {p[1]:.1f}" if p else "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


#: In a results file, the line above the notes written by hand after a run;
#: :func:`write_report` keeps everything from it on when a script rewrites
#: the file.
NOTES_MARKER = "## Notes (written after the run; kept when the script rewrites this file)"


def write_report(path, text):
    """Write a benchmark's markdown report to ``path``.

    The notes section of the file being replaced (from :data:`NOTES_MARKER`
    on) is appended unchanged, so that rerunning or resuming a benchmark
    updates its tables without erasing how they were read.
    """
    path = pathlib.Path(path)
    old = path.read_text() if path.exists() else ""
    notes = NOTES_MARKER + old.split(NOTES_MARKER, 1)[1] if NOTES_MARKER in old else ""
    path.write_text(text.rstrip("\n") + "\n" + ("\n" + notes if notes else ""))


def environment():
    """One line on the machine, versions and date, for benchmark outputs."""
    import sklearn
    import torch

    from . import __version__

    return (f"skdeepad {__version__}, torch {torch.__version__}, numpy {np.__version__}, "
            f"scikit-learn {sklearn.__version__}, Python {platform.python_version()}, "
            f"{platform.machine()} {platform.system()}, "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")


def main(argv=None):
    """Command-line entry point: ``python -m skdeepad [--seeds N] [--n-jobs J]``."""
    parser = argparse.ArgumentParser(prog="python -m skdeepad", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds (default 10)")
    parser.add_argument("--n-jobs", type=int, default=-1, help="parallel jobs (default: all cores)")
    parser.add_argument("--datasets", nargs="*", default=list(TABLE2_SETS))
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--no-download", action="store_true", help="use local files only")
    parser.add_argument("--quick", action="store_true",
                        help="5 epochs instead of the paper's 150 (a smoke run, not the paper)")
    args = parser.parse_args(argv)
    tasks, note = load_tasks(args.datasets, args.data_home, download=not args.no_download)
    if note:
        print(note, file=sys.stderr)
    methods = default_methods(epochs=5 if args.quick else None)
    results = run_benchmark(tasks, methods, seeds=range(args.seeds), n_jobs=args.n_jobs)
    print(f"\nAUC (%) over {args.seeds} seeds, gamma_l = 0.01, gamma_p = 0; paper: Ruff et al. "
          "(2020) Table 2 (its OC-SVM was tuned on test data; ours is not)."
          + (" --quick: 5 epochs, a smoke run, not the paper's schedule." if args.quick else "")
          + "\n")
    print(to_markdown(results, tasks, methods))
    print("\n" + environment())
    return 0


def shallow_methods(seed):
    """Fresh IsolationForest and OC-SVM, the shallow methods every results table carries.

    ``IsolationForest(random_state=seed)`` (100 trees, 256 sub-samples) and
    ``OneClassSVM(gamma="scale", nu=0.1)``, both untuned.
    """
    return {"IsolationForest": IsolationForest(random_state=seed),
            "OC-SVM": OneClassSVM(gamma="scale", nu=0.1)}


def shallow_normality(X_train, X_test, seed):
    """Normality scores (higher = more normal) of :func:`shallow_methods` on ``X_test``.

    Both are fit on ``X_train``; images (any trailing shape) are flattened
    to raw-pixel rows.  Returns ``{"IsolationForest": scores, "OC-SVM": scores}``.
    """
    X_train = np.asarray(X_train).reshape(len(X_train), -1)
    X_test = np.asarray(X_test).reshape(len(X_test), -1)
    return {name: est.fit(X_train).score_samples(X_test)
            for name, est in shallow_methods(seed).items()}
