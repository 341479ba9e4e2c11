"""The package's main job: the Deep SAD paper's ODDS benchmark (Table 2).

``python -m skdeepad`` runs Deep SVDD, Deep SAD, Isolation Forest and OC-SVM
on the paper's six ODDS sets with the paper's protocol (60:40 split, 1 %
labeled anomalies, no pollution, one split per seed, the paper's 150 + 150
epochs) and prints mean +- std AUC beside the paper's figures.  Sets missing
from the data home are downloaded; with no data and no network it falls back
to anomaly tasks built from datasets scikit-learn ships, and says so.
Nothing is tuned on test data.

How it runs
-----------
The ten seeds of one (set, deep method) are fitted as one stack with
:func:`skdeepad.fit_stacked` (``per_estimator=True``: seed ``k`` trains on
split ``k``), which gives the models of ten lone fits in a fraction of their
time; Isolation Forest and OC-SVM are fitted per seed.  These jobs run in
parallel over ``--n-jobs`` processes (default: all cores), one torch thread
each, the largest set (shuttle) first so that it does not finish last alone.
A set's row is printed as soon as all its methods are done, the full table at
the end; Ctrl-C prints the table of what finished and exits with status 130.

The default run took 5 min 13 s (wall clock) on 2 CPU cores (AMD EPYC,
2026-12-03, ``benchmarks/results/main_command.md``): shuttle's two stacks
of 10 seeds are the longest jobs (about 4 minutes each on one core).
``--quick`` (5 epochs) takes about a minute and a half (an estimate from
the jobs' CPU time), most of it OC-SVM on shuttle, which does not depend on
the epochs.

Offline fallback
----------------
With none of the sets at hand, the tasks of
:func:`~skdeepad.datasets.make_bundled_tasks` are used, built with
:data:`BUNDLED_CONTAMINATION` (10 %) anomalies.  These sets are small (30 to
214 training normals), so the paper's 1 % would label no anomaly at all on
some of them and make Deep SAD equal to Deep SVDD; the fallback labels
:data:`BUNDLED_RATIO_LABELED_ANOMALIES` (10 %) of each training split as
anomalies instead, which gives every task at least
:data:`MIN_LABELED_ANOMALIES` (3) labeled anomalies.  The table then has no
paper columns.

Warnings raised while fitting (such as the constant-feature warning on
arrhythmia and digits) are collected in the worker processes and reported
once per set, under the table.
"""

import argparse
import datetime
import pathlib
import platform
import re
import sys
import threading
import time
import warnings

__all__ = [
    "BUNDLED_CONTAMINATION",
    "BUNDLED_RATIO_LABELED_ANOMALIES",
    "MIN_LABELED_ANOMALIES",
    "PAPER_TABLE2",
    "TABLE2_SETS",
    "default_methods",
    "iter_benchmark",
    "load_tasks",
    "main",
    "plot_results",
    "run_benchmark",
    "to_markdown",
]

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

#: The paper's share of labeled anomalies in the training split (gamma_l).
PAPER_RATIO_LABELED_ANOMALIES = 0.01

#: Offline fallback: share of anomalies in each task of ``make_bundled_tasks``.
BUNDLED_CONTAMINATION = 0.1

#: Offline fallback: share of each training split labeled as anomalies (gamma_l).
BUNDLED_RATIO_LABELED_ANOMALIES = 0.1

#: Offline fallback: the fewest labeled anomalies a task's training split gets.
MIN_LABELED_ANOMALIES = 3

#: Epochs (training and pretraining) of ``--quick``.
QUICK_EPOCHS = 5

#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

_CONSTANT_FEATURES = re.compile(r"^Features \[([\d, ]*)\] are constant")


def default_methods(epochs=None):
    """The main table's methods.

    Deep methods use their paper defaults; IsolationForest uses t = 100
    trees and psi = min(256, n) (Appendix E); OC-SVM uses ``gamma="scale"``
    and ``nu=0.1``, fixed in advance (the paper chose its OC-SVM parameters
    on 10 % of the test set).

    Parameters
    ----------
    epochs : int, default=None
        Overrides both the training and the pretraining epochs of the deep
        methods (for quick runs); None keeps the paper's 150 + 150.

    Returns
    -------
    methods : dict of str to callable
        Method name -> ``factory(seed)`` returning a fresh, unfitted
        estimator seeded with ``seed``.
    """
    from sklearn.ensemble import IsolationForest
    from sklearn.svm import OneClassSVM

    from ._deep_sad import DeepSAD, DeepSVDD

    deep = {} if epochs is None else {"epochs": epochs, "pretrain_epochs": epochs}
    return {
        "Deep SVDD": lambda seed: DeepSVDD(random_state=seed, device="cpu", **deep),
        "Deep SAD": lambda seed: DeepSAD(random_state=seed, device="cpu", **deep),
        "IsolationForest": lambda seed: IsolationForest(n_estimators=100, max_samples="auto",
                                                        random_state=seed),
        "OC-SVM": lambda seed: OneClassSVM(gamma="scale", nu=0.1),
    }


def load_tasks(names=TABLE2_SETS, data_home=None, download=True):
    """Load the ODDS sets; fall back to scikit-learn's bundled data when none is at hand.

    Parameters
    ----------
    names : sequence of str, default=TABLE2_SETS
        ODDS sets to load.
    data_home : str or path-like, default=None
        Data folder (see :func:`skdeepad.datasets.get_data_home`).
    download : bool, default=True
        Whether to download missing sets.

    Returns
    -------
    tasks : dict of str to tuple (X, y)
        The sets that could be loaded, or, if none could, the tasks of
        :func:`~skdeepad.datasets.make_bundled_tasks` built with
        :data:`BUNDLED_CONTAMINATION` anomalies.
    note : str
        What was missing and what was used instead; empty if nothing was.
    """
    from .datasets import DataNotFoundError, load_odds, make_bundled_tasks

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
        tasks = make_bundled_tasks(contamination=BUNDLED_CONTAMINATION, random_state=0)
        note += (" No ODDS file could be found or downloaded, so the benchmark runs on "
                 "anomaly tasks built from datasets scikit-learn ships instead: "
                 + ", ".join(tasks) + f" ({BUNDLED_CONTAMINATION:.0%} anomalies each). "
                 "These are not the paper's sets.")
    return tasks, note.strip()


def is_fallback(tasks):
    """Whether ``tasks`` are the offline fallback (none of the paper's sets)."""
    return set(tasks).isdisjoint(TABLE2_SETS)


def labeled_anomaly_counts(tasks, ratio_labeled_anomalies):
    """Labeled anomalies in each task's training split (the same for every seed).

    Returns ``{task: count}``.
    """
    from .datasets import make_semisupervised_split

    return {t: int((make_semisupervised_split(
        X, y, ratio_labeled_anomalies=ratio_labeled_anomalies, random_state=0)[1] == -1).sum())
        for t, (X, y) in tasks.items()}


def _uses_labels(estimator):
    from ._deep_sad import DeepSAD

    return isinstance(estimator, DeepSAD) or getattr(estimator, "_uses_labels", False)


def _stackable(estimator):
    """Whether :func:`~skdeepad.fit_stacked` trains copies of ``estimator`` as one stack."""
    from ._stacked import why_not_stackable

    return why_not_stackable(estimator) is None


def _anomaly_scores(estimator, X):
    score = getattr(estimator, "anomaly_score", None)
    return score(X) if score else -estimator.score_samples(X)


def _thread_lock_for_tqdm():
    """Give tqdm a thread lock in a process that has no tqdm lock yet (a worker).

    The training loop builds (disabled) tqdm bars, and tqdm's first bar in a
    process creates a multiprocessing lock, a named semaphore.  A worker
    killed by Ctrl-C leaves it behind, and Python's resource tracker then
    warns about "leaked semaphore objects" after the run.  Workers draw no
    bars, so a thread lock serves; a process whose tqdm already has a lock
    (the main process, with its progress bar) is left alone.
    """
    from tqdm.auto import tqdm

    if not hasattr(tqdm, "_lock"):
        tqdm.set_lock(threading.RLock())


def _run_job(task, X, y, method, factory, seeds, ratio_labeled_anomalies):
    """Fit one method on one task for ``seeds`` (one stack when there are several).

    Seed ``k`` trains on the split drawn with ``random_state=k``.  Runs with
    one torch thread; warnings are caught and returned, not printed.

    Returns
    -------
    task, method : str
    aucs : dict of int to float
        Seed -> test AUC (%).
    caught : list of tuple (category, message)
        The distinct warnings raised, in order.
    """
    import torch
    from sklearn.metrics import roc_auc_score

    from ._stacked import fit_stacked
    from .datasets import make_semisupervised_split

    _thread_lock_for_tqdm()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            splits = [make_semisupervised_split(
                X, y, ratio_labeled_anomalies=ratio_labeled_anomalies, random_state=seed)
                for seed in seeds]
            estimators = [factory(seed) for seed in seeds]
            if _uses_labels(estimators[0]):
                Xs, ys = [s[0] for s in splits], [s[1] for s in splits]
            else:  # unsupervised: train on the unlabeled (and known normal) data
                Xs, ys = [s[0][s[1] != -1] for s in splits], [None] * len(splits)
            if len(estimators) > 1 and len({X_k.shape for X_k in Xs}) == 1:
                fit_stacked(estimators, Xs, None if ys[0] is None else ys, per_estimator=True)
            else:  # one seed, or training sets of unequal sizes: lone fits (same models)
                for est, X_k, y_k in zip(estimators, Xs, ys):
                    est.fit(X_k) if y_k is None else est.fit(X_k, y_k)
            aucs = {seed: 100.0 * roc_auc_score(split[3], _anomaly_scores(est, split[2]))
                    for seed, est, split in zip(seeds, estimators, splits)}
    finally:
        torch.set_num_threads(threads)
    caught = list(dict.fromkeys((r.category, str(r.message)) for r in records))
    return task, method, aucs, caught


def _plan(tasks, methods, seeds, stack):
    """The jobs ``(task, method, seeds)``, largest first.

    Stackable methods get one job per task holding all seeds; the others one
    job per seed.  Jobs are ordered by the task's number of samples (then
    stacked jobs first), so that the longest ones start first.
    """
    jobs = []
    for task in tasks:
        for method, factory in methods.items():
            if stack and len(seeds) > 1 and _stackable(factory(seeds[0])):
                jobs.append((task, method, tuple(seeds)))
            else:
                jobs.extend((task, method, (seed,)) for seed in seeds)
    return sorted(jobs, key=lambda job: (-len(tasks[job[0]][1]), len(job[2]) == 1))


def iter_benchmark(tasks, methods, seeds=range(10), ratio_labeled_anomalies=0.01,
                   n_jobs=1, stack=True):
    """Run the benchmark's jobs, yielding each job's results as it finishes.

    Parameters
    ----------
    tasks : dict of str to tuple (X, y)
        Data sets, ``y`` with 1 for an anomaly and 0 for a normal sample.
    methods : dict of str to callable
        Method name -> ``factory(seed)`` returning an unfitted estimator
        (see :func:`default_methods`).
    seeds : iterable of int, default=range(10)
        Seed ``k`` seeds both the estimator and the split.
    ratio_labeled_anomalies : float, default=0.01
        The paper's gamma_l, passed to
        :func:`~skdeepad.datasets.make_semisupervised_split`.
    n_jobs : int, default=1
        Processes to run the jobs in (joblib's convention: -1 for all cores).
        With 1, the jobs run in this process, one after another.
    stack : bool, default=True
        Whether to fit the seeds of each method that
        :func:`~skdeepad.fit_stacked` can stack as one stack (same models
        as lone fits, to float32 rounding).  Other methods run one job per
        seed.

    Yields
    ------
    task, method : str
    aucs : dict of int to float
        Seed -> test AUC (%) of the seeds this job fitted.
    caught : list of tuple (category, message)
        The distinct warnings the job raised.
    """
    from joblib import Parallel, delayed, effective_n_jobs

    seeds = list(seeds)
    jobs = _plan(tasks, methods, seeds, stack)
    calls = (delayed(_run_job)(task, *tasks[task], method, methods[method], job_seeds,
                               ratio_labeled_anomalies)
             for task, method, job_seeds in jobs)
    if effective_n_jobs(n_jobs) == 1:
        for function, args, kwargs in calls:
            yield function(*args, **kwargs)
        return
    results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(calls)
    try:
        yield from results
    finally:
        with warnings.catch_warnings():  # joblib warns that it cancels the rest
            warnings.simplefilter("ignore")
            results.close()


def run_benchmark(tasks, methods, seeds=range(10), ratio_labeled_anomalies=0.01,
                  n_jobs=1, progress=True, stack=True):
    """AUC (%) of every method on every task and seed.

    Parameters
    ----------
    tasks, methods, seeds, ratio_labeled_anomalies, n_jobs, stack
        As in :func:`iter_benchmark`.
    progress : bool, default=True
        Whether to show a progress bar (in fits: one per method, task and seed).

    Returns
    -------
    results : dict of tuple (str, str) to list of float
        ``{(task, method): [auc, ...]}``, each list in seed order (so methods
        can be compared seed by seed).  The warnings the jobs raised are
        re-emitted once each in this process.
    """
    from tqdm.auto import tqdm

    seeds = list(seeds)
    by_seed, seen = {}, set()
    with tqdm(total=len(tasks) * len(methods) * len(seeds), disable=not progress,
              desc="ODDS benchmark", unit="fit") as bar:
        for task, method, aucs, caught in iter_benchmark(
                tasks, methods, seeds, ratio_labeled_anomalies, n_jobs, stack):
            by_seed.setdefault((task, method), {}).update(aucs)
            bar.update(len(aucs))
            for category, message in caught:
                if (category, message) not in seen:
                    seen.add((category, message))
                    warnings.warn(message, category, stacklevel=2)
    return {key: [aucs[s] for s in sorted(aucs)] for key, aucs in by_seed.items()}


def _paper_columns(tasks, methods, paper):
    """Methods that get a "(paper)" column: those the paper reports on some task."""
    return {m for m in methods if any(t in paper.get(m, {}) for t in tasks)}


def _header(methods, paper_columns):
    header = ["dataset"]
    for m in methods:
        header.append(m)
        if m in paper_columns:
            header.append(f"{m} (paper)")
    return "| " + " | ".join(header) + " |\n|" + "---|" * len(header)


def _row(results, task, methods, paper_columns, paper):
    import numpy as np

    row = [task]
    for m in methods:
        aucs = results.get((task, m), [])
        row.append(f"{np.mean(aucs):.1f} ± {np.std(aucs):.1f}" if len(aucs) else "n/a")
        if m in paper_columns:
            p = paper.get(m, {}).get(task)
            row.append(f"{p[0]:.1f} ± {p[1]:.1f}" if p else "")
    return "| " + " | ".join(row) + " |"


def to_markdown(results, tasks, methods, paper=PAPER_TABLE2):
    """Mean +- std table, with the paper's figure beside each method it reports.

    Parameters
    ----------
    results : dict of tuple (str, str) to list of float
        ``{(task, method): [auc, ...]}`` as returned by :func:`run_benchmark`;
        a missing entry is shown as "n/a".
    tasks : iterable of str
        The rows, in order.
    methods : iterable of str
        The columns, in order.
    paper : dict, default=PAPER_TABLE2
        ``{method: {task: (mean, std)}}``.  A method gets a "(paper)" column
        only if the paper reports it on at least one of ``tasks``.

    Returns
    -------
    table : str
        A markdown table.
    """
    tasks, methods = list(tasks), list(methods)
    columns = _paper_columns(tasks, methods, paper)
    return "\n".join([_header(methods, columns)]
                     + [_row(results, t, methods, columns, paper) for t in tasks])


def plot_results(results, tasks, methods, path, paper=PAPER_TABLE2, title=None):
    """Draw the results as bars with error bars and the paper's figures as markers.

    One group of bars per task: each method's mean AUC with its standard
    deviation over seeds as an error bar; where the paper reports the method
    on the task, its mean +- std is drawn as a diamond beside the bar.

    Parameters
    ----------
    results, tasks, methods, paper
        As in :func:`to_markdown`.
    path : str or path-like
        The PNG file to write.
    title : str, default=None
        The figure's title.

    Raises
    ------
    ImportError
        If matplotlib is not installed (the message says how to install it).
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
    except ImportError as exc:
        raise ImportError("Plotting needs matplotlib; install it with "
                          "`pip install matplotlib`.") from exc
    import numpy as np

    tasks, methods = list(tasks), list(methods)
    slot = 0.84 / len(methods)  # each method's share of a task's group
    fig = Figure(figsize=(max(6.0, 1.5 * len(tasks) + 2.5), 4.8), layout="constrained")
    ax = fig.add_subplot()
    lows, handles = [], []
    for i, method in enumerate(methods):
        centre = np.arange(len(tasks)) + (i - (len(methods) - 1) / 2) * slot
        aucs = [results.get((t, method), []) for t in tasks]
        mean = np.array([np.mean(a) if len(a) else np.nan for a in aucs])
        std = np.array([np.std(a) if len(a) else 0.0 for a in aucs])
        # The bar takes the left part of the slot, the paper's marker the right.
        handles.append(ax.bar(centre - 0.15 * slot, mean, 0.6 * slot, yerr=std, capsize=2,
                              color=f"C{i}", label=method, error_kw={"elinewidth": 0.8}))
        lows.extend(mean - std)
        reported = [(x, paper.get(method, {}).get(t)) for x, t in zip(centre, tasks)]
        reported = [(x, p) for x, p in reported if p]
        if reported:
            ax.errorbar([x + 0.32 * slot for x, _ in reported], [p[0] for _, p in reported],
                        yerr=[p[1] for _, p in reported], fmt="D", markersize=4.5,
                        color=f"C{i}", markeredgecolor="black", ecolor="black",
                        elinewidth=0.8, capsize=1.5)
            lows.extend(p[0] - p[1] for _, p in reported)
    if any(paper.get(m, {}).get(t) for m in methods for t in tasks):
        handles.append(Line2D([], [], linestyle="none", marker="D", markersize=4.5,
                              color="0.7", markeredgecolor="black",
                              label="paper, mean ± std (method's colour)"))
    finite = [v for v in lows if np.isfinite(v)]
    ax.set_ylim(max(0.0, 5 * np.floor((min(finite) if finite else 50.0) / 5) - 5), 101)
    ax.set_xticks(np.arange(len(tasks)), tasks)
    ax.set_ylabel("test AUC (%), mean ± std over seeds")
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(handles=handles, fontsize=8, ncols=min(5, len(handles)), loc="upper center",
              bbox_to_anchor=(0.5, -0.1), frameon=False)
    fig.savefig(path, dpi=120)


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
    import numpy as np
    import sklearn
    import torch

    from . import __version__

    return (f"skdeepad {__version__}, torch {torch.__version__}, numpy {np.__version__}, "
            f"scikit-learn {sklearn.__version__}, Python {platform.python_version()}, "
            f"{platform.machine()} {platform.system()}, "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")


def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _positive_int(text):
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _n_jobs(text):
    value = _integer(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must not be 0 (use -1 for all cores)")
    return value


def build_parser():
    """The command line of ``python -m skdeepad`` (imports nothing heavy)."""
    parser = argparse.ArgumentParser(
        prog="python -m skdeepad",
        description="Run the Deep SAD paper's ODDS benchmark (Ruff et al. 2020, Table 2): "
                    "Deep SVDD, Deep SAD, IsolationForest and OC-SVM over 10 seeds with the "
                    "paper's protocol and schedule, and print mean ± std AUC beside the "
                    "paper's figures. A set's row is printed when all its methods are done, "
                    "the full table at the end; Ctrl-C prints what finished.",
        epilog="The default run took 5 min 13 s on 2 CPU cores, --quick takes about a "
               "minute and a half. Sets missing from the data "
               "home ($SKDEEPAD_DATA, else ~/skdeepad_data) are downloaded; with no data and "
               "no network, tasks built from scikit-learn's bundled datasets are used "
               "instead, and the output says so.")
    parser.add_argument("--seeds", type=_positive_int, default=10, metavar="N",
                        help="number of seeds; seed k uses split k (default: 10)")
    parser.add_argument("--n-jobs", type=_n_jobs, default=-1, metavar="J",
                        help="parallel processes (default: -1, all cores)")
    parser.add_argument("--datasets", nargs="+", type=str.lower, choices=TABLE2_SETS,
                        default=list(TABLE2_SETS), metavar="NAME",
                        help="ODDS sets to run, any of: " + ", ".join(TABLE2_SETS)
                             + " (default: all six)")
    parser.add_argument("--data-home", default=None, metavar="DIR",
                        help="data folder (default: $SKDEEPAD_DATA, else ~/skdeepad_data)")
    parser.add_argument("--no-download", action="store_true",
                        help="use local files only")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_EPOCHS} epochs instead of the paper's 150 + 150: a smoke "
                             "run (about 1.5 minutes on 2 cores), not the paper's results")
    parser.add_argument("--plot", default=None, metavar="FILE",
                        help="also draw the results as a PNG: per set, mean ± std AUC of "
                             "each method as bars, the paper's figures as markers "
                             "(needs matplotlib)")
    return parser


def _stop_workers():
    """Shut joblib's worker processes down now rather than at interpreter exit.

    Called once the results are printed: the reusable loky executor would
    otherwise wind its workers down in the interpreter's exit handlers, where
    a Ctrl-C (the run looks finished) prints a traceback.  Does nothing if no
    worker was started.
    """
    if "joblib" not in sys.modules:
        return
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)  # None if none was started
    if executor is not None:
        executor.shutdown(wait=True)


def _warning_notes(caught):
    """One line per set for the warnings its jobs raised.

    ``caught`` maps ``task -> {(category, message): [method, ...]}``.  The
    constant-feature warning, whose feature list varies with the split, is
    merged into one line per set.
    """
    lines = []
    for task, found in caught.items():
        constant, methods = set(), []
        for (category, message), by in found.items():
            match = _CONSTANT_FEATURES.match(message)
            if match:
                constant.update(int(i) for i in match.group(1).split(",") if i.strip())
                methods.extend(m for m in by if m not in methods)
            else:
                first = message.strip().splitlines()[0] if message.strip() else ""
                lines.append(f"- {task} ({', '.join(by)}): {category.__name__}: {first}")
        if constant:
            shown = ", ".join(map(str, sorted(constant)[:12])) + (
                ", ..." if len(constant) > 12 else "")
            lines.append(
                f"- {task}: {len(constant)} feature(s) constant in the training split of "
                f"some seeds ({shown}); kept, as the protocol drops no feature "
                f"({', '.join(methods)} warned that a constant input acts like a bias term).")
    return lines


def main(argv=None):
    """Command-line entry point: ``python -m skdeepad [options]`` (see ``--help``).

    Parameters
    ----------
    argv : list of str, default=None
        Arguments; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 after a complete run, 130 (:data:`EXIT_INTERRUPTED`) after Ctrl-C.
    """
    import importlib.util

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        parser.error("--plot needs matplotlib; install it with `pip install matplotlib`.")
    if args.plot and not pathlib.Path(args.plot).resolve().parent.is_dir():
        parser.error(f"--plot: the folder of {args.plot!r} does not exist.")
    try:
        try:
            return _main(args)
        finally:
            _stop_workers()
    except KeyboardInterrupt:  # before or after the run proper: no traceback either
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(args):
    """Run the benchmark for parsed ``args``; print rows, table and notes; return the status."""
    tic = time.perf_counter()
    tasks, note = load_tasks(args.datasets, args.data_home, download=not args.no_download)
    if note:
        print(note, file=sys.stderr)
    fallback = is_fallback(tasks)
    paper = {} if fallback else PAPER_TABLE2
    methods = default_methods(epochs=QUICK_EPOCHS if args.quick else None)
    seeds = list(range(args.seeds))
    quick = (f" --quick: {QUICK_EPOCHS} epochs, a smoke run, not the paper's schedule."
             if args.quick else "")
    if fallback:
        ratio = BUNDLED_RATIO_LABELED_ANOMALIES
        counts = labeled_anomaly_counts(tasks, ratio)
        intro = (f"AUC (%) over {args.seeds} seed(s) on scikit-learn's bundled data, not the "
                 f"paper's sets (no paper column): gamma_l = {ratio} instead of the paper's "
                 f"{PAPER_RATIO_LABELED_ANOMALIES}, so that each training split has at least "
                 f"{MIN_LABELED_ANOMALIES} labeled anomalies ("
                 + ", ".join(f"{t} {n}" for t, n in counts.items()) + "), gamma_p = 0.")
    else:
        ratio = PAPER_RATIO_LABELED_ANOMALIES
        intro = (f"AUC (%) over {args.seeds} seed(s), gamma_l = {ratio}, gamma_p = 0; "
                 "(paper): Ruff et al. (2020) Table 2 (its OC-SVM was tuned on test data; "
                 "ours is not).")
    print(intro + quick + "\n", flush=True)

    from tqdm.auto import tqdm

    columns = _paper_columns(tasks, methods, paper)
    results, by_seed, caught = {}, {}, {}
    outstanding = {t: len(methods) * len(seeds) for t in tasks}
    done = []
    with tqdm(total=len(tasks) * len(methods) * len(seeds), desc="ODDS benchmark",
              unit="fit") as bar:
        bar.write(_header(methods, columns))
        sys.stdout.flush()
        jobs = iter_benchmark(tasks, methods, seeds, ratio, n_jobs=args.n_jobs)
        try:
            for task, method, aucs, found in jobs:
                by_seed.setdefault((task, method), {}).update(aucs)
                if len(by_seed[(task, method)]) == len(seeds):
                    results[(task, method)] = [by_seed[(task, method)][s] for s in seeds]
                for key in found:
                    by = caught.setdefault(task, {}).setdefault(key, [])
                    if method not in by:
                        by.append(method)
                bar.update(len(aucs))
                outstanding[task] -= len(aucs)
                if outstanding[task] == 0:
                    done.append(task)
                    bar.write(_row(results, task, methods, columns, paper))
                    sys.stdout.flush()  # rows show as they come, even through a pipe
        except KeyboardInterrupt:
            interrupted = True
        else:
            interrupted = False
        finally:
            jobs.close()  # stops the workers if the run was cut short

    notes = _warning_notes({t: caught[t] for t in tasks if t in caught})
    if interrupted:
        started = [t for t in tasks if any((t, m) in results for m in methods)]
        print(f"\nPartial results ({len(done)} of {len(tasks)} sets complete; n/a: not "
              "finished):\n")
        print(to_markdown(results, started, methods, paper) if started
              else "(no method finished on any set)")
        if notes:
            print("\nWarnings while fitting, once per set:\n" + "\n".join(notes))
        print(f"\nInterrupted (Ctrl-C) after {time.perf_counter() - tic:.0f} s: the table "
              "shows only what finished" + ("; no plot was written." if args.plot else "."))
        return EXIT_INTERRUPTED

    minutes = (time.perf_counter() - tic) / 60
    print(f"\nAll {len(tasks)} sets done in {minutes:.1f} min; the full table:\n")
    print(to_markdown(results, tasks, methods, paper))
    if notes:
        print("\nWarnings while fitting, once per set:\n" + "\n".join(notes))
    if args.plot:
        title = (f"Deep SAD paper, Table 2 protocol: AUC over {args.seeds} seed(s)"
                 if not fallback else
                 f"scikit-learn's bundled data (not the paper's sets): AUC over "
                 f"{args.seeds} seed(s)") + (" (--quick)" if args.quick else "")
        plot_results(results, tasks, methods, args.plot, paper=paper, title=title)
        print(f"\nPlot written to {args.plot}.")
    print("\n" + environment())
    return 0


def shallow_methods(seed):
    """Fresh IsolationForest and OC-SVM, the shallow methods every results table carries.

    ``IsolationForest(random_state=seed)`` (100 trees, 256 sub-samples) and
    ``OneClassSVM(gamma="scale", nu=0.1)``, both untuned.
    """
    from sklearn.ensemble import IsolationForest
    from sklearn.svm import OneClassSVM

    return {"IsolationForest": IsolationForest(random_state=seed),
            "OC-SVM": OneClassSVM(gamma="scale", nu=0.1)}


def shallow_normality(X_train, X_test, seed):
    """Normality scores (higher = more normal) of :func:`shallow_methods` on ``X_test``.

    Both are fit on ``X_train``; images (any trailing shape) are flattened
    to raw-pixel rows.  Returns ``{"IsolationForest": scores, "OC-SVM": scores}``.
    """
    import numpy as np

    X_train = np.asarray(X_train).reshape(len(X_train), -1)
    X_test = np.asarray(X_test).reshape(len(X_test), -1)
    return {name: est.fit(X_train).score_samples(X_test)
            for name, est in shallow_methods(seed).items()}

