"""Training and scoring speed of skdeepad against PyOD, DeepOD and a bare loop.

What it measures
----------------
For each ODDS set (default: shuttle, cardio, satellite), on the semi-supervised
split of ``skdeepad.datasets.make_semisupervised_split`` (1% labelled
anomalies, ``random_state=0``, standardised and min-max scaled as in the
paper) and the same float32 arrays, with the same network size (hidden
32-16, representation 8), batch size (200, skdeepad's default and the
paper's, for the main table; 128 for a second one), learning rate and number
of epochs (20), and no pretraining:

* seconds per training epoch (median over epochs 2..E of each fit, then the
  median over the repeated fits) and the wall time of the whole ``fit``;
* seconds to score 100,000 rows (the test set tiled to 100k rows; best of 3
  calls after the fit, then the median over the repeated fits);
* test ROC AUC (mean over the repeated fits, seeds 0, 1, 2, ...).

Detectors: skdeepad ``DeepSAD`` and ``DeepSVDD`` (one-class), a bare eager
PyTorch loop over the reference network (once with the Deep SAD loss, once
with the Deep SVDD loss: the floor for eager code; each also with
``Adam(fused=True)``, the optimizer skdeepad uses), PyOD ``DeepSVDD`` and
DeepOD ``DeepSAD``/``DeepSVDD``.  ``benchmarks/_peers.py`` says how each one
is driven and timed, and lists where a peer's network cannot be made to match.

``--device cuda`` instead measures whole fits on a GPU with the paper's ODDS
schedule (150 epochs, plus 150 autoencoder pretraining epochs for skdeepad)
and writes ``speed_cuda.md``/``.json``.

How to run
----------
From the benchmark's own environment (never the package's)::

    python3 -m venv /work/venv-bench
    /work/venv-bench/bin/pip install torch==2.13.0      # CPU wheel, first
    /work/venv-bench/bin/pip install numpy scipy scikit-learn tqdm joblib
    /work/venv-bench/bin/pip install --no-deps -r benchmarks/requirements-peers.txt
    /work/venv-bench/bin/pip install --no-deps -e .   # or run it as a module (below)
    SKDEEPAD_DATA=/work/shared/data /work/venv-bench/bin/python benchmarks/speed.py

Without installing skdeepad in that environment, run it as a module from the
repository root, which puts the checkout on the import path::

    SKDEEPAD_DATA=/work/shared/data /work/venv-bench/bin/python -m benchmarks.speed

writes ``benchmarks/results/speed_cpu.md`` and ``speed_cpu.json`` (about 5
minutes on 2 idle cores), one table per dataset and batch size with 1 torch thread
(``--threads 1 2`` adds a 2-thread table: only on an idle machine).  ``--quick`` is a
one-minute smoke run (cardio, 3 epochs, 1 repeat) writing
``speed_cpu_quick.*``; ``--profile`` writes ``speed_profile_cpu.txt`` (where an
epoch's time goes in skdeepad and in the bare loop); ``--write-only`` rewrites
the md (of ``--device``/``--suffix``) from the JSON, fitting nothing; ``--help``
lists the rest.

What the JSON holds
-------------------
Written through ``benchmarks/_harness.py``: ``"environment"`` (one line:
versions, machine, date of the run), ``"machine"`` (the same in detail: CPU,
load averages at start and end, the peers' versions, the git commit; what the
md prints), ``"kind"`` (cpu or cuda), ``"settings"``, ``"splits"`` (per
dataset: its sizes and how it was split), ``"command"``,
``"benchmark_seconds"`` and ``"records"``: one harness ``Record`` per dataset,
configuration (the protocol: ``"batch 200, 1 thread"``; on cuda
``"cuda, batch 200"``), detector (the method: ``"ours-sad"``, ``"pyod-svdd"``,
...; on cuda the row, ``"ours-sad-pre"``), repeat (the seed) and metric
(:data:`METRICS`).  The ``"fit s"`` record also carries, in ``extra``, the
detector's library and method names and the per-epoch wall and CPU times.
The medians, ratios and targets the md shows are computed from the records
when it is written.
"""

import argparse
import datetime
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from skdeepad.datasets import load_odds, make_semisupervised_split

if __package__:  # python -m benchmarks.speed
    from . import _peers
    from ._harness import (RESULTS, Record, read_json, records_from_json, records_to_json,
                           write_json, write_markdown)
else:  # python benchmarks/speed.py: Python puts benchmarks/ on the import path
    import _peers
    from _harness import (RESULTS, Record, read_json, records_from_json, records_to_json,
                          write_json, write_markdown)

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("SKDEEPAD_DATA", str(REPO.parent / "shared" / "data"))

CPU_DETECTORS = ["ours-sad", "bare-sad", "bare-sad-fused", "deepod-sad",
                 "ours-svdd", "bare-svdd", "bare-svdd-fused", "pyod-svdd", "deepod-svdd"]
# Which skdeepad row each row is compared with.
REFERENCE = {k: ("ours-sad" if "sad" in k else "ours-svdd") for k in CPU_DETECTORS}
PEERS = ("pyod-svdd", "deepod-sad", "deepod-svdd")
PAPER_ODDS = ["arrhythmia", "cardio", "satellite", "satimage-2", "shuttle", "thyroid"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------


def load_split(name):
    """The benchmark split; returns (X_train, y_partial, X_test, y_test, source).

    The split standardises then min-max scales on the training rows (the
    paper's code).
    """
    X, y = load_odds(name)
    X, y = np.asarray(X), np.asarray(y).ravel()
    split = make_semisupervised_split(X, y, ratio_labeled_anomalies=0.01, random_state=0)
    source = ("skdeepad.datasets.load_odds + "
              "make_semisupervised_split(ratio_labeled_anomalies=0.01, random_state=0)")
    X_tr, y_partial, X_te, y_te = (np.asarray(a) for a in split)
    X_tr = np.ascontiguousarray(X_tr, dtype=np.float32)
    X_te = np.ascontiguousarray(X_te, dtype=np.float32)
    return X_tr, y_partial.astype(int), X_te, y_te.astype(int), source


def tile_rows(X, n_rows):
    reps = math.ceil(n_rows / len(X))
    return np.ascontiguousarray(np.tile(X, (reps, 1))[:n_rows])


# ---------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(device):
    """The run's machine and versions in detail (the JSON's ``"machine"``)."""
    import subprocess

    import scipy
    import sklearn

    import skdeepad

    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_at_start": list(os.getloadavg()),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "platform": f"{platform.machine()} {platform.system()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        **_peers.peer_versions(),
        "skdeepad": skdeepad.__version__,
    }
    try:
        env["skdeepad_commit"] = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "skdeepad"],
                               capture_output=True, text=True, check=False).stdout.strip()
        if dirty:
            env["skdeepad_commit"] += " + uncommitted changes"
    except OSError:  # no git
        pass
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cuda"] = torch.version.cuda
    return env


def environment_line(env):
    """The JSON's one-line ``"environment"`` from the :func:`machine` dict, in the
    words of ``skdeepad._benchmark.environment()``."""
    return (f"skdeepad {env['skdeepad']}, torch {env['torch']}, numpy {env['numpy']}, "
            f"scikit-learn {env['scikit-learn']}, Python {env['python']}, {env['platform']}, "
            f"{env['date']}")


def set_threads(n):
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass


# ---------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_scoring(adapter, X, device, n_calls=3):
    best = math.inf
    for _ in range(n_calls):
        sync(device)
        tic = time.perf_counter()
        adapter.anomaly_score(X)
        sync(device)
        best = min(best, time.perf_counter() - tic)
    return best


def measure(key, make_kwargs, data, X_score, device, score_calls=3):
    X_tr, y_partial, X_te, y_te = data
    adapter = _peers.ADAPTERS[key](**make_kwargs)
    sync(device)
    cpu_tic, tic = time.process_time(), time.perf_counter()
    adapter.fit(X_tr, y_partial)
    sync(device)
    fit_s = time.perf_counter() - tic
    fit_cpu_s = time.process_time() - cpu_tic
    scores = adapter.anomaly_score(X_te)
    auc = float(roc_auc_score(y_te, scores)) if np.all(np.isfinite(scores)) else math.nan
    score_s = time_scoring(adapter, X_score, device, score_calls)
    return {
        "library": adapter.library, "method": adapter.method,
        "epoch_times": [None if t is None else float(t) for t in adapter.epoch_times],
        "s_per_epoch": _peers.median_epoch(adapter.epoch_times),
        "epoch_cpu_times": [None if t is None else float(t) for t in adapter.epoch_cpu_times],
        "cpu_s_per_epoch": _peers.median_epoch(adapter.epoch_cpu_times),
        "fit_s": fit_s, "fit_cpu_s": fit_cpu_s, "score_s": score_s, "auc": auc,
    }


# ---------------------------------------------------------------------------
# the runs as records
# ---------------------------------------------------------------------------


#: The record metric of each number :func:`measure` returns.
METRICS = {
    "s_per_epoch": "s / epoch (median)",  # over epochs 2..E of the fit
    "cpu_s_per_epoch": "CPU s / epoch (median)",
    "fit_s": "fit s",
    "fit_cpu_s": "fit CPU s",
    "score_s": "score s",  # settings' score_rows rows, best of score_calls calls
    "auc": "AUC",
}
#: What the "fit s" record (the one every fit has) keeps in ``extra``.
FIT_EXTRA = ("library", "method", "epoch_times", "epoch_cpu_times")


def config_label(batch_size, threads):
    """The CPU tables' configuration, the records' protocol: ``"batch 200, 1 thread"``."""
    return f"batch {batch_size}, {threads} thread{'s' if threads > 1 else ''}"


def run_records(dataset, protocol, key, seed, run):
    """The records of one :func:`measure` result (non-finite numbers left out)."""
    return [Record(dataset, key, seed, protocol, metric, float(run[name]),
                   extra={k: run[k] for k in FIT_EXTRA} if name == "fit_s" else {})
            for name, metric in METRICS.items() if math.isfinite(run[name])]


def runs_from_records(records):
    """``{(dataset, protocol): {key: [run of seed 0, 1, ...]}}``: the :func:`measure`
    results back from their records (a number left out comes back as NaN)."""
    names = {metric: name for name, metric in METRICS.items()}
    seeds = {}
    for r in records:
        run = (seeds.setdefault((r.dataset, r.protocol), {}).setdefault(r.method, {})
               .setdefault(r.seed, dict.fromkeys(METRICS, math.nan)))
        run.update(r.extra)
        run[names[r.metric]] = r.value
    return {config: {key: [reps[seed] for seed in sorted(reps)] for key, reps in runs.items()}
            for config, runs in seeds.items()}


def stored_results(payload):
    """The stored JSON with its records turned back into ``datasets``: per dataset its
    split facts and, per configuration (CPU) or row (cuda), the runs and what the md
    reads of them."""
    runs = runs_from_records(records_from_json(payload["records"]))
    build = cuda_entry if payload["kind"] == "cuda" else cpu_entry
    datasets = {name: build(name, split, runs, payload["settings"])
                for name, split in payload["splits"].items()}
    return {**{k: v for k, v in payload.items() if k not in ("splits", "records")},
            "datasets": datasets}


def summarise(runs, score_rows):
    out = {}
    for key, reps in runs.items():
        med = lambda name: float(statistics.median(r[name] for r in reps))  # noqa: E731
        aucs = [r["auc"] for r in reps]
        out[key] = {
            "library": reps[0]["library"], "method": reps[0]["method"],
            "s_per_epoch": med("s_per_epoch"),
            "s_per_epoch_range": [min(r["s_per_epoch"] for r in reps),
                                  max(r["s_per_epoch"] for r in reps)],
            "cpu_s_per_epoch": med("cpu_s_per_epoch"),
            "fit_s": med("fit_s"),
            "fit_cpu_s": med("fit_cpu_s"),
            "score_s": med("score_s"),
            "s_per_100k": med("score_s") * 100_000 / score_rows,
            "auc_mean": float(np.mean(aucs)),
            "auc_std": float(np.std(aucs)),
        }
    for key, row in out.items():
        ref = out.get(REFERENCE.get(key, ""), None)
        if ref is not None:
            row["epoch_ratio"] = row["s_per_epoch"] / ref["s_per_epoch"]
            row["cpu_epoch_ratio"] = row["cpu_s_per_epoch"] / ref["cpu_s_per_epoch"]
            row["score_ratio"] = row["s_per_100k"] / ref["s_per_100k"]
    return out


def targets(summary):
    """The issue's acceptance targets, as (text, value, goal, ok) rows."""
    rows = []
    s = summary

    def add(text, value, goal, ok):
        rows.append({"target": text, "value": value, "goal": goal, "ok": bool(ok)})

    if "pyod-svdd" in s and "ours-svdd" in s:
        r = s["pyod-svdd"]["s_per_epoch"] / s["ours-svdd"]["s_per_epoch"]
        add("PyOD DeepSVDD s/epoch / ours DeepSVDD", r, ">= 3", r >= 3)
    for peer, ours in (("deepod-sad", "ours-sad"), ("deepod-svdd", "ours-svdd")):
        if peer in s and ours in s:
            r = s[peer]["s_per_epoch"] / s[ours]["s_per_epoch"]
            add(f"DeepOD {s[peer]['method']} s/epoch / ours {s[ours]['method']}", r, ">= 2", r >= 2)
    for bare, ours in (("bare-sad", "ours-sad"), ("bare-svdd", "ours-svdd"),
                       ("bare-sad-fused", "ours-sad"), ("bare-svdd-fused", "ours-svdd")):
        if bare in s and ours in s:
            r = s[ours]["s_per_epoch"] / s[bare]["s_per_epoch"]
            add(f"ours {s[ours]['method']} s/epoch / bare loop ({s[bare]['method']})",
                r, "<= 1.10", r <= 1.10)
    peers = [k for k in PEERS if k in s]
    for ours in ("ours-sad", "ours-svdd"):
        if ours in s and peers:
            fastest = min(peers, key=lambda k: s[k]["s_per_100k"])
            r = s[fastest]["s_per_100k"] / s[ours]["s_per_100k"]
            add(f"fastest peer's scoring time ({s[fastest]['library']} {s[fastest]['method']}) "
                f"/ ours {s[ours]['method']}", r, ">= 1", r >= 1)
    for peer in peers:
        ours = REFERENCE[peer]
        if ours in s:
            d = s[ours]["auc_mean"] - s[peer]["auc_mean"]
            add(f"AUC ours {s[ours]['method']} - {s[peer]['library']} {s[peer]['method']}",
                d, ">= 0", d >= 0)
    return rows


def warm_up(keys, device, args):
    """Import every library and run each detector once on a small set, so that
    imports (numba for PyOD), lazy initialisation and first-call costs of
    torch are not charged to the first measured fit."""
    X_tr, y_partial, X_te, y_te, _ = load_split("cardio")
    data = (X_tr, y_partial, X_te, y_te)
    for key in keys:
        kwargs = dict(hidden=(32, 16), rep_dim=8, epochs=3, batch_size=args.batch_size[0],
                      lr=args.lr, weight_decay=args.weight_decay, device=device,
                      random_state=0)
        measure(key, kwargs, data, X_te, device, score_calls=1)


# ---------------------------------------------------------------------------
# CPU benchmark
# ---------------------------------------------------------------------------


def run_cpu(args):
    """Measure; returns the JSON's header (kind, machine, settings, splits) and the records."""
    detectors = args.detectors or CPU_DETECTORS
    settings = dict(hidden=[32, 16], rep_dim=8, epochs=args.epochs,
                    batch_sizes=args.batch_size,
                    lr=args.lr, weight_decay=args.weight_decay, pretrain=False,
                    repeats=args.repeats, score_rows=args.score_rows, score_calls=3,
                    threads=args.threads, detectors=detectors, datasets=args.datasets)
    results = {"machine": machine("cpu"), "kind": "cpu", "settings": settings, "splits": {}}
    records = []
    warm_up(detectors, "cpu", args)
    for name in args.datasets:
        X_tr, y_partial, X_te, y_te, source = load_split(name)
        data = (X_tr, y_partial, X_te, y_te)
        X_score = tile_rows(X_te, args.score_rows)
        split = {"n_train": int(X_tr.shape[0]), "n_features": int(X_tr.shape[1]),
                 "n_test": int(X_te.shape[0]),
                 "n_labeled_anomalies": int(np.sum(y_partial == -1)),
                 "n_labeled_normals": int(np.sum(y_partial == 1)),
                 "test_anomaly_rate": float(np.mean(y_te == 1)),
                 "split": source}
        results["splits"][name] = split
        log(f"== {name}: train {X_tr.shape}, test {X_te.shape}, "
            f"{split['n_labeled_anomalies']} labelled anomalies")
        for batch_size, n_threads in [(b, t) for b in args.batch_size for t in args.threads]:
            set_threads(n_threads)
            label = config_label(batch_size, n_threads)
            runs = {k: [] for k in detectors}
            for rep in range(args.repeats):
                # rotate the order so that no detector always runs first
                order = detectors[rep % len(detectors):] + detectors[:rep % len(detectors)]
                for key in order:
                    kwargs = dict(hidden=(32, 16), rep_dim=8, epochs=args.epochs,
                                  batch_size=batch_size, lr=args.lr,
                                  weight_decay=args.weight_decay, device="cpu",
                                  random_state=rep)
                    r = measure(key, kwargs, data, X_score, "cpu")
                    runs[key].append(r)
                    log(f"   batch={batch_size} threads={n_threads} rep={rep} {key:15s} "
                        f"{r['s_per_epoch'] * 1e3:8.1f} ms/epoch  fit {r['fit_s']:6.2f} s  "
                        f"score {r['score_s'] * 1e3:8.1f} ms  AUC {r['auc']:.3f}")
            records += [rec for key, reps in runs.items() for rep, r in enumerate(reps)
                        for rec in run_records(name, label, key, rep, r)]
    return results, records


def cpu_entry(name, split, runs, settings):
    """One dataset of :func:`stored_results`: ``configs``, per configuration the
    runs, their :func:`summarise` and :func:`targets`."""
    configs = {}
    for batch_size in settings["batch_sizes"]:
        for n_threads in settings["threads"]:
            label = config_label(batch_size, n_threads)
            stored = runs[name, label]
            config_runs = {k: stored[k] for k in settings["detectors"] if k in stored}
            summary = summarise(config_runs, settings["score_rows"])
            configs[label] = {"batch_size": batch_size, "threads": n_threads,
                              "runs": config_runs, "summary": summary,
                              "targets": targets(summary)}
    return {**split, "configs": configs}


def _fmt_s(x):
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"


def _fmt_load(load):
    return "n/a" if not load else "/".join(f"{v:.2f}" for v in load)


def _fmt_ratio(x):
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.2f}x"


def cpu_markdown(results):
    """The CPU report (the text of ``speed_cpu.md``) from :func:`stored_results`."""
    st, env = results["settings"], results["machine"]
    lines = [
        "# Training and scoring speed on the CPU",
        "",
        f"Generated by `benchmarks/speed.py` on {env['date']}.",
        "",
        "## Machine and versions",
        "",
        f"- CPU: {env['cpu']}, {env['logical_cores']} logical cores",
        f"- Python {env['python']}, torch {env['torch']}, numpy {env['numpy']}, "
        f"scipy {env['scipy']}, scikit-learn {env['scikit-learn']}",
        f"- skdeepad {env.get('skdeepad')} ({env.get('skdeepad_commit', '')}), "
        f"PyOD {env['pyod']} (numba {env['numba']}), DeepOD {env['deepod']}",
        f"- Load average (1/5/15 min) at start {_fmt_load(env.get('load_average_at_start'))}, "
        f"at end {_fmt_load(env.get('load_average_at_end'))}. Other processes were "
        "running; the wall and CPU columns below show how much they slowed this run",
        f"- torch intra-op threads: {', '.join(map(str, st['threads']))} "
        "(`torch.set_num_threads`, BLAS limited the same way); the main table uses "
        f"{st['threads'][0]}",
        "",
        "## Settings (the same for every detector)",
        "",
        f"- Network: hidden {st['hidden'][0]}-{st['hidden'][1]}, representation "
        f"{st['rep_dim']} (skdeepad `hidden_layer_sizes=(32, 16, 8)`); no pretraining",
        f"- {st['epochs']} epochs, batch size {' and '.join(map(str, st['batch_sizes']))} "
        f"(one table each; {st['batch_sizes'][0]}, skdeepad's default and the paper's, is "
        "the main one; every library's "
        "`batch_size` is the number of rows per gradient step; the final partial batch is "
        f"kept by all), Adam, lr {st['lr']:g}, weight decay {st['weight_decay']:g} "
        "(DeepOD: fixed 1e-5)",
        "- Data: the ODDS set, split as listed under Splits below (60/40, 1% of the training "
        "set labelled anomalies), standardised then min-max scaled to [0, 1] with scalers "
        "fitted on the training rows (the paper's preprocessing, done by the split), float32, "
        "given to every detector as the same numpy arrays (PyOD's own standardisation off)",
        f"- s/epoch: median of the per-epoch durations of epochs 2..{st['epochs']} of one "
        f"fit, then the median over {st['repeats']} fits (seeds 0..{st['repeats'] - 1}); "
        "each library's epoch is timed around its own loop (skdeepad: `history_[i]['dur']`; "
        "DeepOD: its end-of-epoch hook; PyOD: the gaps between its per-epoch lines; bare "
        "loop: `perf_counter` around each epoch). `fit` is the wall time of the whole "
        "`fit` call (setup, centre, epochs and whatever the library does after training); "
        "CPU s/epoch: the same median of the calling thread's CPU time over each epoch "
        "(`time.thread_time()` at the same points; for skdeepad read beside the clock its "
        "loop reads), which other processes on the machine do not inflate; "
        "fit CPU time: `time.process_time()` over the whole call. With 1 thread, CPU and "
        "wall times should agree; wall times well above the CPU times mean other processes "
        "competed for the cores during the run",
        f"- Scoring: the test set tiled to {st['score_rows']:,} rows, best of "
        f"{st['score_calls']} calls after the fit, median over the fits; shown per 100k rows",
        "- AUC: `roc_auc_score(y_test, anomaly score)` on the test split with each "
        "library's sign (skdeepad: `-score_samples`; PyOD/DeepOD: `decision_function`), "
        f"mean (± sd) over the {st['repeats']} seeds; after only {st['epochs']} epochs "
        "without pretraining, so it is a sanity check, not the paper's result",
        "- ratio: this row's time / skdeepad's time for the same method (DeepSAD or "
        "DeepSVDD); above 1 means slower than skdeepad",
        "",
    ]
    lines += _glance(results)
    for name, entry in results["datasets"].items():
        for label, block in entry["configs"].items():
            s = block["summary"]
            lines += [
                f"## {name} ({entry['n_train']} x {entry['n_features']} training rows, "
                f"{entry['n_test']} test rows, {entry['n_labeled_anomalies']} labelled "
                f"anomalies), {label}",
                "",
                "| dataset | method | library | s/epoch (range over fits) | ratio | CPU s/epoch "
                "| ratio | fit (whole) | fit CPU time | s per 100k scored rows | ratio | AUC |",
                "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for key in results["settings"]["detectors"]:
                if key not in s:
                    continue
                r = s[key]
                lo, hi = r["s_per_epoch_range"]
                lines.append(
                    f"| {name} | {r['method']} | {r['library']} | {_fmt_s(r['s_per_epoch'])} "
                    f"({_fmt_s(lo)}–{_fmt_s(hi)}) | {_fmt_ratio(r.get('epoch_ratio'))} | "
                    f"{_fmt_s(r['cpu_s_per_epoch'])} | {_fmt_ratio(r.get('cpu_epoch_ratio'))} | "
                    f"{_fmt_s(r['fit_s'])} | {_fmt_s(r['fit_cpu_s'])} | "
                    f"{_fmt_s(r['s_per_100k'])} | "
                    f"{_fmt_ratio(r.get('score_ratio'))} | "
                    f"{r['auc_mean']:.3f} ± {r['auc_std']:.3f} |")
            lines += ["", "Targets:", "", "| target | value | goal | met |", "|---|---:|---|---|"]
            for t in block["targets"]:
                lines.append(f"| {t['target']} | {t['value']:.3f} | {t['goal']} | "
                             f"{'yes' if t['ok'] else '**no**'} |")
            lines.append("")
    lines += ["## Splits", ""]
    for name, entry in results["datasets"].items():
        lines.append(f"- {name}: {entry['split']}; {entry['n_labeled_anomalies']} labelled "
                     f"anomalies, {entry['n_labeled_normals']} labelled normals; test anomaly "
                     f"rate {entry['test_anomaly_rate']:.3f}")
    lines += ["", "## How each peer differs from the reference network and loop", ""]
    lines += _mismatch_lines()
    lines += ["", "Regenerate: `" + results["command"] + "`", ""]
    return "\n".join(lines)


def _glance(results):
    """One line per dataset and configuration with the ratios the issue asks for."""
    lines = ["## At a glance", "",
             "s/epoch ratios (peer / skdeepad, skdeepad / bare loop) and scoring ratio "
             "(fastest peer / skdeepad); goals: PyOD >= 3, DeepOD >= 2, bare <= 1.10, "
             "scoring >= 1.", "",
             "| dataset | setting | PyOD SVDD / ours | DeepOD SAD / ours | DeepOD SVDD / ours "
             "| ours SAD / bare (Adam, fused Adam) | ours SVDD / bare (Adam, fused Adam) "
             "| scoring: fastest peer / ours (SAD, SVDD) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]

    def ratio(s, a, b, what="s_per_epoch"):
        if a in s and b in s:
            return f"{s[a][what] / s[b][what]:.2f}"
        return "n/a"

    for name, entry in results["datasets"].items():
        for label, block in entry["configs"].items():
            s = block["summary"]
            peers = [k for k in PEERS if k in s]
            fastest = min(peers, key=lambda k: s[k]["s_per_100k"]) if peers else None
            score = (f"{ratio(s, fastest, 'ours-sad', 's_per_100k')}, "
                     f"{ratio(s, fastest, 'ours-svdd', 's_per_100k')}") if fastest else "n/a"
            lines.append(
                f"| {name} | {label} | {ratio(s, 'pyod-svdd', 'ours-svdd')} | "
                f"{ratio(s, 'deepod-sad', 'ours-sad')} | {ratio(s, 'deepod-svdd', 'ours-svdd')} | "
                f"{ratio(s, 'ours-sad', 'bare-sad')}, {ratio(s, 'ours-sad', 'bare-sad-fused')} | "
                f"{ratio(s, 'ours-svdd', 'bare-svdd')}, "
                f"{ratio(s, 'ours-svdd', 'bare-svdd-fused')} | {score} |")
    lines.append("")
    return lines


def _mismatch_lines():
    lines = ["Reference (skdeepad and the bare loop): bias-free Linear -> "
             "BatchNorm1d(affine=False, eps=1e-4) -> LeakyReLU(0.1) per hidden layer, a "
             "bias-free linear output, fixed centre, Adam.", ""]
    names = {"pyod-svdd": "PyOD DeepSVDD", "deepod-sad": "DeepOD DeepSAD",
             "deepod-svdd": "DeepOD DeepSVDD"}
    for key, items in _peers.MISMATCHES.items():
        lines.append(f"- {names[key]}: " + "; ".join(items) + ".")
    return lines


# ---------------------------------------------------------------------------
# GPU benchmark: whole fits with the paper's schedule
# ---------------------------------------------------------------------------


CUDA_ROWS = [
    # key, adapter, extra kwargs, label
    ("ours-sad-pre", "ours-sad", {"pretrain": True}, "skdeepad DeepSAD, pretraining + training"),
    ("ours-svdd-pre", "ours-svdd", {"pretrain": True}, "skdeepad DeepSVDD, pretraining + training"),
    ("ours-sad", "ours-sad", {}, "skdeepad DeepSAD, no pretraining"),
    ("ours-svdd", "ours-svdd", {}, "skdeepad DeepSVDD, no pretraining"),
    ("bare-sad", "bare-sad", {}, "bare torch loop, Deep SAD loss"),
    ("bare-svdd", "bare-svdd", {}, "bare torch loop, Deep SVDD loss"),
    ("bare-sad-fused", "bare-sad-fused", {}, "bare torch loop, Deep SAD loss, Adam(fused=True)"),
    ("bare-svdd-fused", "bare-svdd-fused", {},
     "bare torch loop, Deep SVDD loss, Adam(fused=True)"),
    ("deepod-sad", "deepod-sad", {}, "DeepOD DeepSAD (no pretraining)"),
    ("deepod-svdd", "deepod-svdd", {}, "DeepOD DeepSVDD (no pretraining)"),
    ("pyod-svdd", "pyod-svdd", {}, "PyOD DeepSVDD (no pretraining; CPU only)"),
]


def cuda_protocol(settings):
    """The cuda records' protocol: ``"cuda, batch 200"``."""
    return f"{settings['device']}, batch {settings['batch_size']}"


def run_cuda(args):
    """Measure; returns the JSON's header (kind, machine, settings, splits) and the records."""
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("--device cuda: torch.cuda.is_available() is False")
    rows = [r for r in CUDA_ROWS if not args.detectors or r[0] in args.detectors]
    settings = dict(device=device, hidden=[32, 16], rep_dim=8, epochs=args.epochs,
                    pretrain_epochs=args.pretrain_epochs,
                    batch_size=args.batch_size[0], lr=args.lr,
                    weight_decay=args.weight_decay, repeats=args.repeats,
                    score_rows=args.score_rows, rows=[r[0] for r in rows],
                    datasets=args.datasets)
    results = {"machine": machine(device), "kind": "cuda", "settings": settings, "splits": {}}
    records = []
    set_threads(args.threads[0])
    # CUDA context creation, imports and first calls are not charged to a row
    torch.zeros(1, device=device).sum().item()
    warm_up(sorted({r[1] for r in rows}), device, args)
    for name in args.datasets:
        X_tr, y_partial, X_te, y_te, source = load_split(name)
        data = (X_tr, y_partial, X_te, y_te)
        X_score = tile_rows(X_te, args.score_rows)
        results["splits"][name] = {"n_train": int(X_tr.shape[0]),
                                   "n_features": int(X_tr.shape[1]), "split": source}
        log(f"== {name}: train {X_tr.shape}")
        for key, adapter, extra, label in rows:
            for rep in range(args.repeats):
                kwargs = dict(hidden=(32, 16), rep_dim=8, epochs=args.epochs,
                              batch_size=args.batch_size[0], lr=args.lr,
                              weight_decay=args.weight_decay, device=device,
                              random_state=rep)
                if extra.get("pretrain"):
                    kwargs.update(pretrain=True, pretrain_epochs=args.pretrain_epochs)
                r = measure(adapter, kwargs, data, X_score, device)
                records += run_records(name, cuda_protocol(settings), key, rep, r)
                log(f"   rep={rep} {key:14s} fit {r['fit_s']:7.2f} s  "
                    f"{r['s_per_epoch'] * 1e3:7.2f} ms/epoch  score {r['score_s'] * 1e3:7.1f} ms"
                    f"  AUC {r['auc']:.3f}")
    return results, records


def cuda_entry(name, split, runs, settings):
    """One dataset of :func:`stored_results`: ``rows``, per row its label, runs and
    medians."""
    labels = {key: label for key, _, _, label in CUDA_ROWS}
    stored = runs[name, cuda_protocol(settings)]
    rows = {}
    for key in settings["rows"]:
        reps = stored[key]
        rows[key] = {
            "label": labels[key], "runs": reps,
            "fit_s": float(statistics.median(r["fit_s"] for r in reps)),
            "s_per_epoch": float(statistics.median(r["s_per_epoch"] for r in reps)),
            "s_per_100k": float(statistics.median(r["score_s"] for r in reps))
            * 100_000 / settings["score_rows"],
            "auc_mean": float(np.mean([r["auc"] for r in reps])),
        }
    return {**split, "rows": rows}


def cuda_markdown(results):
    """The GPU report (the text of ``speed_cuda.md``) from :func:`stored_results`."""
    st, env = results["settings"], results["machine"]
    lines = [
        "# Whole-fit time on a GPU, the paper's ODDS schedule",
        "",
        f"Generated by `benchmarks/speed.py --device cuda` on {env['date']}.",
        "",
        f"- GPU: {env.get('gpu')} (CUDA {env.get('cuda')}); host CPU: {env['cpu']}, "
        f"{env['logical_cores']} logical cores",
        f"- torch {env['torch']}, numpy {env['numpy']}, scikit-learn {env['scikit-learn']}, "
        f"skdeepad {env.get('skdeepad')} ({env.get('skdeepad_commit', '')}), "
        f"PyOD {env['pyod']}, DeepOD {env['deepod']}",
        f"- {st['epochs']} training epochs for every row, plus {st['pretrain_epochs']} "
        "autoencoder pretraining epochs for the skdeepad rows marked so (the peers have no "
        f"pretraining); batch size {st['batch_size']}, Adam, lr {st['lr']:g}, weight decay "
        f"{st['weight_decay']:g}; network 32-16-8; median over {st['repeats']} fits",
        "- fit: wall time of `fit` with `torch.cuda.synchronize()` before and after; "
        "s/epoch: median epoch duration (epochs 2..); scoring: test set tiled to "
        f"{st['score_rows']:,} rows, best of 3 calls, per 100k rows",
        "- PyOD's DeepSVDD ignores the device and trains on the host CPU",
        f"- host load average at start {_fmt_load(env.get('load_average_at_start'))}, at end "
        f"{_fmt_load(env.get('load_average_at_end'))}",
        "",
        "| dataset | detector | fit (whole) | ratio to ours | ratio to ours with pretraining "
        "| s/epoch | s per 100k scored rows | AUC |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in results["datasets"].items():
        rows = entry["rows"]
        for key, row in rows.items():
            ref_key = "ours-sad" if "sad" in key else "ours-svdd"
            if key.endswith("-pre"):
                ref_key = key
            ref = rows.get(ref_key)
            ratio = row["fit_s"] / ref["fit_s"] if ref else math.nan
            ref_pre = rows.get(("ours-sad" if "sad" in key else "ours-svdd") + "-pre")
            ratio_pre = row["fit_s"] / ref_pre["fit_s"] if ref_pre else math.nan
            lines.append(f"| {name} | {row['label']} | {_fmt_s(row['fit_s'])} | "
                         f"{_fmt_ratio(ratio)} | {_fmt_ratio(ratio_pre)} | "
                         f"{_fmt_s(row['s_per_epoch'])} | "
                         f"{_fmt_s(row['s_per_100k'])} | {row['auc_mean']:.3f} |")
    lines += ["", "ratio to ours: this row's whole-fit time / skdeepad's without pretraining "
              "(same method; the pretraining rows are compared with themselves). Ratio to ours "
              "with pretraining: the same against skdeepad's full schedule (twice the epochs "
              "of the peers).", "",
              "## How each peer differs from the reference network and loop", ""]
    lines += _mismatch_lines()
    lines += ["", "Regenerate: `" + results["command"] + "`", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# profile
# ---------------------------------------------------------------------------


def run_profile(args):
    """Where an epoch's time goes: skdeepad DeepSAD versus the bare loop."""
    import cProfile
    import io
    import pstats

    from torch.profiler import ProfilerActivity, profile

    set_threads(args.threads[0])
    name = args.datasets[0]
    X_tr, y_partial, X_te, y_te, _ = load_split(name)
    out = [f"# Profile of {args.epochs} epochs on {name} ({X_tr.shape}), batch "
           f"{args.batch_size[0]}, {args.threads[0]} thread(s)", "",
           f"Load average before: {os.getloadavg()}", ""]
    # What-if: the same bare loop with other optimizer implementations or
    # compiled, to show what an eager loop can and cannot gain.
    variants = [
        ("skdeepad DeepSAD", "ours-sad", {}),
        ("bare loop, Deep SAD loss", "bare-sad", {}),
        ("bare loop, Deep SAD loss, Adam(foreach=True)", "bare-sad",
         {"adam_kwargs": {"foreach": True}}),
        ("bare loop, Deep SAD loss, Adam(fused=True)", "bare-sad",
         {"adam_kwargs": {"fused": True}}),
        ("bare loop, Deep SAD loss as w1*d + w2/(d+eps) + w0 (no where/pow)", "bare-sad",
         {"weighted_sad_loss": True}),
        ("bare loop, Deep SAD loss, weights + Adam(fused=True)", "bare-sad",
         {"weighted_sad_loss": True, "adam_kwargs": {"fused": True}}),
        ("bare loop, Deep SAD loss, torch.compile(loss) + Adam(fused=True)", "bare-sad",
         {"adam_kwargs": {"fused": True}, "compile_net": True}),
        ("skdeepad DeepSVDD", "ours-svdd", {}),
        ("bare loop, Deep SVDD loss", "bare-svdd", {}),
        ("bare loop, Deep SVDD loss, Adam(fused=True)", "bare-svdd",
         {"adam_kwargs": {"fused": True}}),
        ("PyOD DeepSVDD", "pyod-svdd", {}),
        ("DeepOD DeepSAD", "deepod-sad", {}),
        ("DeepOD DeepSVDD", "deepod-svdd", {}),
    ]
    out += ["## Median epoch time (no profiler), median of 3 fits", "",
            "| variant | ms/epoch | ms per batch |", "|---|---:|---:|"]
    n_batches = math.ceil(len(X_tr) / args.batch_size[0])
    for label, key, extra in variants:
        times = []
        for rep in range(4):
            kwargs = dict(hidden=(32, 16), rep_dim=8, epochs=args.epochs,
                          batch_size=args.batch_size[0], lr=args.lr,
                          weight_decay=args.weight_decay, device="cpu", random_state=rep)
            try:
                adapter = _peers.ADAPTERS[key](**kwargs, **extra)
                adapter.fit(X_tr, y_partial)
            except Exception as exc:  # e.g. no compiler for torch.compile
                times = None
                out.append(f"| {label} | failed: {type(exc).__name__}: {exc} | |")
                break
            if rep:  # the first fit is a warm-up (and compiles)
                times.append(_peers.median_epoch(adapter.epoch_times))
        if times:
            t = statistics.median(times)
            out.append(f"| {label} | {t * 1e3:.1f} | {t * 1e3 / n_batches:.3f} |")
            log(f"   {label}: {t * 1e3:.1f} ms/epoch")
    out.append("")
    for key in ("ours-sad", "bare-sad", "ours-svdd", "bare-svdd"):
        kwargs = dict(hidden=(32, 16), rep_dim=8, epochs=args.epochs,
                      batch_size=args.batch_size[0], lr=args.lr, weight_decay=args.weight_decay,
                      device="cpu", random_state=0)
        _peers.ADAPTERS[key](**kwargs).fit(X_tr, y_partial)  # warm-up
        adapter = _peers.ADAPTERS[key](**kwargs)
        prof = cProfile.Profile()
        tic = time.perf_counter()
        prof.enable()
        adapter.fit(X_tr, y_partial)
        prof.disable()
        wall = time.perf_counter() - tic
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
        out += [f"## {key}: cProfile, fit {wall:.3f} s, median epoch "
                f"{_peers.median_epoch(adapter.epoch_times) * 1e3:.1f} ms (under cProfile)",
                "", "```", buf.getvalue().strip(), "```", ""]
        adapter = _peers.ADAPTERS[key](**kwargs)
        with profile(activities=[ProfilerActivity.CPU]) as prof_t:
            adapter.fit(X_tr, y_partial)
        table = prof_t.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
        out += [f"## {key}: torch.profiler (self CPU time)", "", "```", table.strip(),
                "```", ""]
    path = RESULTS / f"speed_profile_cpu{args.suffix}.txt"
    path.write_text("\n".join(out))
    log(f"wrote {path}")


# ---------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    p.add_argument("--datasets", nargs="+", default=None,
                   help="ODDS names (default: shuttle cardio satellite on the CPU, the "
                        "paper's six ODDS sets on cuda)")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: 20 on the CPU, 150 on cuda)")
    p.add_argument("--pretrain-epochs", type=int, default=150,
                   help="cuda only: skdeepad's autoencoder pretraining epochs (default 150)")
    p.add_argument("--batch-size", type=int, nargs="+", default=[200, 128],
                   help="one table per value, the first is the main one (default: 200 128; "
                        "cuda and --profile use the first)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--weight-decay", type=float, default=0.5e-6)
    p.add_argument("--repeats", type=int, default=3, help="fits per detector (median)")
    p.add_argument("--score-rows", type=int, default=100_000)
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="torch threads, one table per value; the first is the main table "
                        "(default: 1). More threads than idle cores makes OpenMP "
                        "thrash: use 2 only on an otherwise idle 2-core machine")
    p.add_argument("--detectors", nargs="+", default=None,
                   help=f"subset of {CPU_DETECTORS} (cuda: {[r[0] for r in CUDA_ROWS]})")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: cardio, 3 epochs, 1 repeat, 20k scored rows; "
                        "writes speed_*_quick.*")
    p.add_argument("--profile", action="store_true",
                   help="profile skdeepad against the bare loop instead (first dataset)")
    p.add_argument("--suffix", default="", help="appended to the output file names")
    p.add_argument("--write-only", action="store_true",
                   help="only rewrite the md (speed_cpu<suffix>.md, or speed_cuda<suffix>.md "
                        "with --device cuda) from its JSON, fitting nothing")
    args = p.parse_args(argv)
    cuda = args.device.startswith("cuda")
    if args.quick:
        args.batch_size = args.batch_size[:1]
        args.datasets = args.datasets or ["cardio"]
        args.epochs = args.epochs or 3
        args.repeats = 1
        args.score_rows = 20_000
        args.pretrain_epochs = min(args.pretrain_epochs, 3)
        args.suffix = args.suffix or "_quick"
    if args.threads is None:
        args.threads = [1]
    if args.datasets is None:
        args.datasets = PAPER_ODDS if cuda else ["shuttle", "cardio", "satellite"]
    if args.epochs is None:
        args.epochs = 150 if cuda else 20
    if args.epochs < 3:
        p.error("--epochs must be at least 3 (the first epoch is not timed)")
    return args


def main(argv=None):
    args = parse_args(argv)
    command = "SKDEEPAD_DATA=/path/to/data python benchmarks/speed.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.profile:
        run_profile(args)
        return
    cuda = args.device.startswith("cuda")
    stem = f"speed_{'cuda' if cuda else 'cpu'}{args.suffix}"
    if not args.write_only:
        tic = time.perf_counter()
        results, records = run_cuda(args) if cuda else run_cpu(args)
        results["machine"]["load_average_at_end"] = list(os.getloadavg())
        write_json(stem, {"environment": environment_line(results["machine"]), **results,
                          "command": command.strip(),
                          "benchmark_seconds": time.perf_counter() - tic,
                          "records": records_to_json(records)})
    results = stored_results(read_json(stem))
    write_markdown(stem, (cuda_markdown if cuda else cpu_markdown)(results))
    log(f"wrote {RESULTS / (stem + '.md')}" + ("" if args.write_only else
        f" and .json in {results['benchmark_seconds']:.0f} s"))


if __name__ == "__main__":
    main()
