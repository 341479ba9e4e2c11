"""Stacked training (skdeepad.fit_stacked): speed, and what a seed ensemble buys.

Three parts, each writing ``benchmarks/results/stacked_<part>.md`` and ``.json``:

``--part speed``
    CPU seconds per epoch of training K = 1, 10, 30 models of one
    architecture with their weights stacked (one loop), against K fits one
    after another, for Deep SVDD and Deep SAD (AE pretraining and main
    training) on ODDS shuttle and cardio (split of seed 0 of the Deep SAD
    protocol), one thread.  Process CPU time, minimum over repeats, because
    the machine is shared (the load average is written beside the numbers).
    "Sequential" is K times the per-epoch time of a lone fit.  The
    wall-clock block fits K = 10 models end to end three ways: one after
    another, over 2 joblib processes, stacked.  The JSON holds one record
    per (threads, dataset, method, K, phase, fit: stacked, sequential or
    lone), metric "CPU s / epoch" (and one per wall-clock fit, metric "wall
    s"), beside the run's ``settings`` (epochs, repeats, datasets) that the
    md prints.

``--part ensemble``
    The Deep SAD protocol of Table 2 (gamma_l = 0.01, gamma_p = 0, one split
    per seed): a single Deep SAD (the per-seed AUCs of
    ``odds_deepsad.json``, same splits), the mean AUC of the ten members of
    a 10-member :class:`skdeepad.ensemble.StackedEnsemble`, the ensemble
    itself, and IsolationForest, all with the paper's settings fixed in
    advance.

``--part table2``
    The 10 Deep SAD seeds of Table 2 (seed k on split k) fitted one after
    another and as one stack (``fit_stacked(..., per_estimator=True)``):
    CPU time of both, and whether the AUCs are equal.  The JSON holds, per
    dataset, two "CPU s" records (methods "Deep SAD, 10 seeds stacked" and
    "... sequential", seed 0; the load in ``extra``) and per seed the "AUC
    (%)" records of "Deep SAD stacked", "Deep SAD lone" and "Deep SAD stored
    run" (``odds_deepsad.json``).

Run::

    SKDEEPAD_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/stacked.py --part speed
    SKDEEPAD_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/stacked.py --part ensemble \\
        --datasets arrhythmia cardio thyroid --seeds 10
    python benchmarks/stacked.py --part speed --write-only     # md again from the JSON
    python benchmarks/stacked.py --part table2 --resume        # md again from the JSON
    python benchmarks/stacked.py --part ensemble --write-only  # md again from the JSON

(``--part table2 --write-only`` is ``--resume``.)  Results are written
through ``benchmarks/_harness.py`` as harness records.
"""

import argparse
import os
import time
import warnings

import numpy as np

if __package__:  # python -m benchmarks.stacked
    from . import _harness as harness
else:  # python benchmarks/stacked.py: Python puts benchmarks/ on the import path
    import _harness as harness

RESULTS = harness.RESULTS


def _split(name, seed=0):
    from skdeepad.datasets import load_odds, make_semisupervised_split

    X, y = load_odds(name)
    return make_semisupervised_split(X, y, ratio_labeled_anomalies=0.01, random_state=seed)


#: The methods of the speed part; DROCC has no pretraining phase.
METHODS = ("DeepSVDD", "DeepSAD", "DROCC")


def _make(method, seed, epochs, pretrain_epochs=None):
    from skdeepad import DROCC, DeepSAD, DeepSVDD

    if method == "DROCC":  # package defaults (on standardised data, see speed())
        return DROCC(epochs=epochs, device="cpu", random_state=seed)
    cls = {"DeepSVDD": DeepSVDD, "DeepSAD": DeepSAD}[method]
    pretrain_epochs = epochs if pretrain_epochs is None else pretrain_epochs
    return cls(epochs=epochs, pretrain_epochs=pretrain_epochs, device="cpu", random_state=seed)


def _fit_lone(method, seed, epochs, X, y, threads):
    import torch

    torch.set_num_threads(threads)
    return _make(method, seed, epochs).fit(X, y)


def _cpu_per_epoch(fit, method, K, epochs, repeats):
    """CPU seconds per pretraining and per training epoch of fitting K models.

    Process time of fits with (pretrain, train) epochs = (0, 0), (E, 0) and
    (0, E): the differences divided by E, minimum over the repeats.  Process
    time counts only this process's own work, so it does not grow with the
    load other jobs put on the machine (as wall time does).
    """
    def cpu(pre, train):
        seconds = []
        for r in range(repeats):
            estimators = [_make(method, 100 * r + s, train, pre) for s in range(K)]
            tic = time.process_time()
            fit(estimators)
            seconds.append(time.process_time() - tic)
        return min(seconds)

    base = cpu(0, 0)
    pretrain = None if method == "DROCC" else (cpu(epochs, 0) - base) / epochs
    return pretrain, (cpu(0, epochs) - base) / epochs


def speed(args):
    import torch
    from joblib import Parallel, delayed

    from skdeepad import fit_stacked

    warnings.filterwarnings("ignore", message="Features .* are constant")
    torch.set_num_threads(1)
    rows = []
    for name in args.datasets:
        for method in METHODS:
            X, y, _, _ = _split(name)
            if method == "DROCC":  # one-class, standardised (its radius is in input units)
                from sklearn.preprocessing import StandardScaler

                X, y = StandardScaler().fit_transform(X[y != -1]), None

            def sequential(estimators, X=X, y=y):
                for est in estimators:
                    est.fit(X, y)

            def stacked(estimators, X=X, y=y):
                fit_stacked(estimators, X, y)

            load = os.getloadavg()[0]
            lone_pre, lone_train = _cpu_per_epoch(sequential, method, 1, args.epochs,
                                                  args.repeats)
            for K in args.members:
                pre, train = _cpu_per_epoch(stacked, method, K, args.epochs, args.repeats)
                row = dict(threads=1, dataset=name, n_train=len(X), method=method, K=K,
                           stacked_pretrain=pre, stacked_train=train,
                           sequential_pretrain=None if pre is None else K * lone_pre,
                           sequential_train=K * lone_train,
                           lone_pretrain=lone_pre, lone_train=lone_train, load=load)
                rows.append(row)
                print(row, flush=True)
    wall = []
    if args.wall:
        K = 10
        for name in args.datasets:
            X, y, _, _ = _split(name)
            for method in ("DeepSVDD", "DeepSAD"):
                load = os.getloadavg()[0]
                tic = time.perf_counter()
                for s in range(K):
                    _fit_lone(method, s, args.epochs, X, y, 1)
                seq = time.perf_counter() - tic
                tic = time.perf_counter()
                Parallel(n_jobs=2)(delayed(_fit_lone)(method, s, args.epochs, X, y, 1)
                                   for s in range(K))
                par = time.perf_counter() - tic
                tic = time.perf_counter()
                fit_stacked([_make(method, s, args.epochs) for s in range(K)], X, y)
                stk = time.perf_counter() - tic
                w = dict(dataset=name, method=method, K=K, epochs=2 * args.epochs,
                         sequential=seq, joblib_2=par, stacked=stk, load=load,
                         load_after=os.getloadavg()[0])
                wall.append(w)
                print(w, flush=True)
    settings = {"epochs": args.epochs, "repeats": args.repeats, "datasets": args.datasets}
    _write_speed({"per_epoch": rows, "wall": wall}, settings)


#: The speed part's per-epoch fits and phases (a row's ``"<fit>_<phase>"`` fields; DROCC
#: has no pretraining) and its wall-clock fits (a wall row's fields, as records name them).
_SPEED_FITS = ("stacked", "sequential", "lone")
_SPEED_PHASES = ("pretrain", "train")
_WALL_FITS = {"sequential": "sequential", "joblib_2": "joblib, 2 processes",
              "stacked": "stacked"}
_SPEED_PROTOCOL = "deep-sad-table2 split 0"


def _speed_records(raw):
    """The speed part's rows as records: one per (threads, dataset, method, K, phase,
    fit), metric "CPU s / epoch" ("lone" is the one lone fit, the same for every K;
    "sequential" is K times it), and one per wall-clock row and way of fitting, metric
    "wall s"; the rows' other fields in ``extra``."""
    out = []
    for r in raw["per_epoch"]:
        extra = {k: r[k] for k in ("threads", "method", "K", "n_train", "load")}
        out += [harness.Record(
            r["dataset"], f"{r['method']}, K = {r['K']}, {fit}", 0,
            f"{_SPEED_PROTOCOL}, {phase}, {r['threads']} thread", "CPU s / epoch",
            float(r[f"{fit}_{phase}"]), extra={**extra, "fit": fit, "phase": phase})
            for phase in _SPEED_PHASES for fit in _SPEED_FITS
            if r[f"{fit}_{phase}"] is not None]
    for w in raw["wall"]:
        extra = {k: w[k] for k in ("method", "K", "epochs", "load", "load_after")}
        out += [harness.Record(
            w["dataset"], f"{w['method']}, K = {w['K']}, {name}", 0,
            f"{_SPEED_PROTOCOL}, fit end to end, 1 thread per process", "wall s",
            float(w[fit]), extra={**extra, "fit": fit}) for fit, name in _WALL_FITS.items()]
    return out


def _speed_results(records):
    """The ``{"per_epoch": rows, "wall": rows}`` the table reads, back from the records."""
    per_epoch, wall = {}, {}
    for rec in records:
        e = rec.extra
        if rec.metric == "CPU s / epoch":
            r = per_epoch.setdefault((e["threads"], rec.dataset, e["method"], e["K"]), {
                "dataset": rec.dataset, **{f"{fit}_{phase}": None for fit in _SPEED_FITS
                                           for phase in _SPEED_PHASES},
                **{k: v for k, v in e.items() if k not in ("fit", "phase")}})
            r[f"{e['fit']}_{e['phase']}"] = rec.value
        else:
            w = wall.setdefault((rec.dataset, e["method"], e["K"]), {
                "dataset": rec.dataset, **{k: v for k, v in e.items() if k != "fit"}})
            w[e["fit"]] = rec.value
    return {"per_epoch": list(per_epoch.values()), "wall": list(wall.values())}


def _write_speed(raw, settings, stored_env=None):
    """Write the md (and, for a new run, the JSON: records and ``settings``, the run's
    epochs, repeats and datasets); ``stored_env``: rewrite from the JSON."""
    env = harness.environment_line(stored_env)
    epochs, repeats = settings["epochs"], settings["repeats"]
    lines = [
        "# Stacked training: CPU seconds per epoch (skdeepad.fit_stacked)",
        "",
        "ODDS split of seed 0 (Deep SAD protocol), package defaults (Deep SVDD/SAD: the "
        "paper's 32-16-8 MLP with BatchNorm, batch 128, Adam; DROCC: its 128-unit MLP, batch "
        "128, 50 ascent steps, on the standardised normal rows), 1 thread. Seconds are *process CPU time* per epoch of training all K "
        "models: (fit with E epochs - fit with 0 epochs) / E, with E = "
        f"{epochs}, minimum over {repeats} repeats. CPU time and not wall time, "
        "because the machine (2 cores) was shared with many other jobs (1-minute load "
        "average in the last column): wall time measured the other jobs as much as ours, "
        "CPU time of one single-threaded process is what its wall time would be on a free "
        "core. 'Sequential' = K x the per-epoch CPU time of one lone fit; 'speed-up' = "
        "sequential / stacked; 'x lone' = stacked / one lone fit (the goal: <= 2 for "
        "Deep SAD and <= 3 for DROCC at K = 10). K = 1 is a lone fit (a stack of one, "
        "measured twice), so its row shows the measurement noise. 2 threads were not measured: with the load "
        "average above the core count a second thread measures contention, not scaling.",
        "",
    ]
    rows = []
    for r in raw["per_epoch"]:
        for phase, key in (("pretrain (AE)", "pretrain"), ("train", "train")):
            if r[f"stacked_{key}"] is None:
                continue
            st, seq, lone = r[f"stacked_{key}"], r[f"sequential_{key}"], r[f"lone_{key}"]
            rows.append([r["threads"], f"{r['dataset']} ({r['n_train']})", r["method"], phase,
                         r["K"], f"{st:.3f}", f"{seq:.3f}", f"{seq / st:.1f}",
                         f"{st / lone:.1f}", f"{r['load']:.1f}"])
    lines += harness.markdown_table(
        ["threads", "dataset (n train)", "method", "phase", "K", "stacked s/epoch",
         "sequential s/epoch", "speed-up", "x lone", "load"], rows)
    if raw["wall"]:
        lines += [
            "",
            f"## Wall clock: fitting K = 10 models end to end ({epochs} pretraining + "
            f"{epochs} training epochs each, 1 thread per process)",
            "",
            "Wall time, so it depends on the load (given at the start and end of each row); "
            "joblib's two processes can only help when a second core is free, and its first "
            "row includes starting the worker processes.",
            "",
        ]
        lines += harness.markdown_table(
            ["dataset", "method", "sequential (s)", "joblib, 2 processes (s)", "stacked (s)",
             "load (start -> end)"],
            [[w["dataset"], w["method"], f"{w['sequential']:.1f}", f"{w['joblib_2']:.1f}",
              f"{w['stacked']:.1f}", f"{w['load']:.1f} -> {w['load_after']:.1f}"]
             for w in raw["wall"]])
    lines += ["", f"Command: `OMP_NUM_THREADS=1 python benchmarks/stacked.py --part speed "
              f"--epochs {epochs} --repeats {repeats} --datasets "
              f"{' '.join(settings['datasets'])}`", "", f"Environment: {env}"]
    harness.write_markdown("stacked_speed", "\n".join(lines) + "\n")
    if stored_env is None:
        harness.write_json("stacked_speed", {
            "settings": settings, "records": harness.records_to_json(_speed_records(raw))}, env)
    print("\n".join(lines))


def table2(args):
    """Deep SAD's 10 seeds of Table 2 (seed k on split k), sequential versus stacked.

    CPU time of both, and whether the stacked AUCs equal the sequential ones
    (those of this run and those stored in ``odds_deepsad.json``).
    """
    import torch
    from sklearn.metrics import roc_auc_score

    from skdeepad import DeepSAD, fit_stacked

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Features .* are constant")
    stored = harness.stored_values("odds_deepsad")
    rows = []
    for name in args.datasets:
        splits = [_split(name, seed) for seed in range(args.seeds)]
        tic = time.process_time()
        stacked = fit_stacked([DeepSAD(device="cpu", random_state=seed)
                               for seed in range(args.seeds)],
                              [s[0] for s in splits], [s[1] for s in splits], per_estimator=True)
        cpu_stacked = time.process_time() - tic
        auc_stacked = [100 * roc_auc_score(s[3], -m.score_samples(s[2]))
                       for m, s in zip(stacked, splits)]
        tic = time.process_time()
        lone = [DeepSAD(device="cpu", random_state=seed).fit(s[0], s[1])
                for seed, s in enumerate(splits)]
        cpu_sequential = time.process_time() - tic
        auc_lone = [100 * roc_auc_score(s[3], -m.score_samples(s[2])) for m, s in zip(lone, splits)]
        row = dict(dataset=name, seeds=args.seeds, cpu_sequential=cpu_sequential,
                   cpu_stacked=cpu_stacked, auc_stacked=auc_stacked, auc_sequential=auc_lone,
                   auc_stored=stored[name, "Deep SAD"][:args.seeds], load=os.getloadavg()[0])
        rows.append(row)
        print(row, flush=True)
    _write_table2(rows)


#: The table2 part's records: CPU seconds (the method names the number of seeds) and
#: per-seed AUCs, by the field of a row they hold.
_TABLE2_CPU = {"cpu_stacked": "Deep SAD, {} seeds stacked",
               "cpu_sequential": "Deep SAD, {} seeds sequential"}
_TABLE2_AUC = {"auc_stacked": "Deep SAD stacked", "auc_sequential": "Deep SAD lone",
               "auc_stored": "Deep SAD stored run"}


def _table2_records(rows):
    """The table2 rows as records: per dataset the CPU seconds of the stack and of the
    lone fits one after another (seed 0, metric "CPU s"; the seeds and the load in
    ``extra``), and per seed the AUC of the stacked member, of its lone fit and of the
    run stored in ``odds_deepsad.json``."""
    out = []
    for r in rows:
        extra = {"seeds": r["seeds"], "load": r["load"]}
        out += [harness.Record(r["dataset"], method.format(r["seeds"]), 0, "deep-sad-table2",
                               "CPU s", float(r[field]), extra=extra)
                for field, method in _TABLE2_CPU.items()]
        out += [harness.Record(r["dataset"], method, seed, "deep-sad-table2", "AUC (%)",
                               float(auc))
                for field, method in _TABLE2_AUC.items() for seed, auc in enumerate(r[field])]
    return out


def _table2_rows(records):
    """The rows the table reads, back from the records."""
    aucs = harness.group_values(records, "AUC (%)")
    rows = {}
    for rec in records:
        if rec.metric == "CPU s":
            r = rows.setdefault(rec.dataset, {
                "dataset": rec.dataset, **rec.extra,
                **{field: aucs[rec.dataset, method] for field, method in _TABLE2_AUC.items()}})
            r[next(field for field, method in _TABLE2_CPU.items()
                   if method.format(rec.extra["seeds"]) == rec.method)] = rec.value
    return list(rows.values())


def _write_table2(rows, stored_env=None):
    """Write the md (and, for a new run, the JSON); ``stored_env``: rewrite from the JSON."""
    env = harness.environment_line(stored_env)
    seeds = rows[0]["seeds"]
    lines = [
        "# Deep SAD, Table 2 protocol: the seeds fitted one after another vs as one stack",
        "",
        f"Seeds 0..{seeds - 1}, seed k trained on split k (paper defaults: 150 + 150 "
        "epochs), `fit_stacked(..., per_estimator=True)` against lone fits. Process CPU time "
        "of one single-threaded process (the shared machine's load average is given; CPU "
        "time is what the wall time would be on a free core). 'x one lone fit' = stacked "
        "CPU time / (sequential CPU time / seeds): what ten stacked seeds cost in lone fits "
        "(the goal: <= 2). 'Equal to lone fits' compares the stacked run's per-seed AUCs "
        "with lone fits of the same code in this run (exact equality of the floats, else "
        "the largest per-seed difference in AUC points: a member equals its lone fit to "
        "float32 rounding, and 300 epochs can carry a last-bit difference into the "
        "ranking). The last column compares with the run stored in `odds_deepsad.json` "
        "(stacked seeds, package defaults).",
        "",
    ]
    table = []
    for r in rows:
        diff = np.max(np.abs(np.subtract(r["auc_stacked"], r["auc_sequential"])))
        stored = np.max(np.abs(np.subtract(r["auc_stacked"], r["auc_stored"])))
        verdict = (f"yes ({r['seeds']}/{r['seeds']})" if diff == 0 else
                   f"{sum(a == b for a, b in zip(r['auc_stacked'], r['auc_sequential']))}"
                   f"/{r['seeds']}, max diff {diff:.2f}")
        table.append([r["dataset"], r["seeds"], f"{r['cpu_sequential']:.0f}",
                      f"{r['cpu_stacked']:.0f}", f"{r['cpu_sequential'] / r['cpu_stacked']:.1f}",
                      f"{r['cpu_stacked'] / (r['cpu_sequential'] / r['seeds']):.1f}",
                      verdict, f"{np.mean(r['auc_stacked']):.1f}", f"{stored:.3f}",
                      f"{r['load']:.1f}"])
    lines += harness.markdown_table(
        ["dataset", "seeds", "sequential CPU s", "stacked CPU s", "speed-up", "x one lone fit",
         "equal to lone fits", "mean AUC", "max abs AUC diff to stored run", "load"], table)
    lines += ["", f"Command: `OMP_NUM_THREADS=1 python benchmarks/stacked.py --part table2 "
              f"--seeds {seeds} --datasets {' '.join(r['dataset'] for r in rows)}`", "",
              f"Environment: {env}"]
    harness.write_markdown("stacked_table2", "\n".join(lines) + "\n")
    if stored_env is None:
        harness.write_json("stacked_table2",
                           {"records": harness.records_to_json(_table2_records(rows))}, env)
    print("\n".join(lines))


def ensemble(args):
    import torch
    from sklearn.metrics import roc_auc_score

    from skdeepad import DeepSAD
    from skdeepad.ensemble import StackedEnsemble

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Features .* are constant")
    single = harness.stored_values("odds_deepsad")
    out_json = RESULTS / "stacked_ensemble.json"
    keep = out_json.exists() and (args.resume or args.write_only)
    stored = harness.read_json("stacked_ensemble") if keep else {}
    results = _ensemble_results(harness.records_from_json(stored.get("records", [])))
    for name in [] if args.write_only else args.datasets:
        for seed in range(args.seeds):
            key = f"{name}|{seed}"
            if key in results:
                continue
            X_train, y_partial, X_test, y_test = _split(name, seed)
            tic = time.perf_counter()
            det = StackedEnsemble(DeepSAD(device="cpu"), n_members=args.members,
                                  random_state=seed).fit(X_train, y_partial)
            fit_time = time.perf_counter() - tic
            members = [100 * roc_auc_score(y_test, -m.score_samples(X_test))
                       for m in det.estimators_]
            # IsolationForest(random_state=seed): 100 trees, 256 sub-samples, trained on
            # the rows not labeled as anomalies
            [iforest] = harness.shallow_baselines(name, seed, X_train[y_partial != -1], X_test,
                                                  y_test, "deep-sad-table2",
                                                  methods=("IsolationForest",))
            results[key] = dict(
                ensemble=100 * roc_auc_score(y_test, -det.score_samples(X_test)),
                members=members,
                single=single[name, "Deep SAD"][seed],
                iforest=iforest.value,
                fit_time=fit_time, load=os.getloadavg()[0],
            )
            print(key, {k: v for k, v in results[key].items() if k != "members"}, flush=True)
            harness.write_json("stacked_ensemble", {
                "records": harness.records_to_json(_ensemble_records(results))},
                stored.get("environment"))
    _write_ensemble(results, args)


#: The ensemble part's methods, as its records name them, and its per-split fields.
_ENSEMBLE_METHODS = {"ensemble": "StackedEnsemble (10 Deep SAD members)",
                     "single": "Deep SAD (odds_deepsad.json)", "iforest": "IsolationForest"}


def _ensemble_records(results):
    """``{"dataset|seed": split result}`` as records: the ensemble (with its members'
    AUCs, fit time and load), the single Deep SAD it is compared with, IsolationForest."""
    out = []
    for key, r in results.items():
        name, seed = key.split("|")
        for field, method in _ENSEMBLE_METHODS.items():
            ensemble = field == "ensemble"
            out.append(harness.Record(
                name, method, int(seed), "deep-sad-table2", "AUC (%)", float(r[field]),
                r["fit_time"] if ensemble else None,
                {"members": r["members"], "load": r["load"]} if ensemble else {}))
    return out


def _ensemble_results(records):
    """The ``{"dataset|seed": split result}`` the table reads, back from the records."""
    results = {}
    for rec in records:
        r = results.setdefault(f"{rec.dataset}|{rec.seed}", {})
        field = next(f for f, m in _ENSEMBLE_METHODS.items() if m == rec.method)
        r[field] = rec.value
        if field == "ensemble":
            r.update(members=rec.extra["members"], fit_time=rec.fit_seconds,
                     load=rec.extra["load"])
    return results


def _write_ensemble(results, args):
    # --write-only keeps the environment line of the run that measured the table
    env = harness.environment_line(
        harness.recorded_environment("stacked_ensemble") if args.write_only else None)
    names = list(dict.fromkeys(k.split("|")[0] for k in results))
    cell = harness.mean_std
    lines = [
        "# Seed ensembles of Deep SAD (StackedEnsemble, 10 members trained as one stack)",
        "",
        "Deep SAD protocol of Table 2 (gamma_l = 0.01, gamma_p = 0; split k = seed k). AUC (%) "
        "mean ± std over the splits run. 'Single Deep SAD' is the per-seed result of "
        "`odds_deepsad.json` (one model, random_state = split seed); 'members' is the mean AUC "
        "of the ensemble's ten members (each a single Deep SAD with its own seed: the "
        "spread is the std of the per-split member means); 'spread within split' is the "
        "mean over splits of the std across the ten members. Package defaults throughout "
        "(150 + 150 epochs, lr 1e-4 -> 1e-5, batch 128, PyTorch's default initialisation); "
        "nothing tuned on test data.",
        "",
    ]
    table, verdicts = [], []
    for name in names:
        rs = [v for k, v in results.items() if k.split("|")[0] == name]
        table.append([name, len(rs), cell([r["single"] for r in rs]),
                      cell([np.mean(r["members"]) for r in rs]),
                      f"{np.mean([np.std(r['members']) for r in rs]):.1f}",
                      cell([r["ensemble"] for r in rs]), cell([r["iforest"] for r in rs]),
                      f"{np.mean([r['fit_time'] for r in rs]):.0f}"])
        single, ens = [r["single"] for r in rs], [r["ensemble"] for r in rs]
        verdicts.append(
            f"- {name}: the ensemble {'raises' if np.mean(ens) > np.mean(single) else 'lowers'} "
            f"the mean AUC by {abs(np.mean(ens) - np.mean(single)):.1f} points and "
            f"{'narrows' if np.std(ens) < np.std(single) else 'widens'} the spread over splits "
            f"(std {np.std(single):.1f} -> {np.std(ens):.1f}); it "
            f"{'beats' if np.mean(ens) > np.mean([r['iforest'] for r in rs]) else 'trails'} "
            "IsolationForest.")
    lines += harness.markdown_table(
        ["dataset", "splits", "single Deep SAD", "members (mean)", "spread within split",
         "StackedEnsemble (10)", "IsolationForest", "ensemble fit, wall s (shared machine)"],
        table)
    missing = [n for n in args.datasets if n not in names] if getattr(args, "datasets", None) else []
    lines += ["", *verdicts]
    if missing or any(sum(k.startswith(n + "|") for k in results) < 10 for n in names):
        lines += ["", "Not all of the six sets / ten splits were run within the CPU budget of "
                  "this run; the 'splits' column says how many were (splits 0..k-1)."]
    lines += ["", "Command: `OMP_NUM_THREADS=1 python benchmarks/stacked.py --part ensemble "
              f"--resume --seeds {args.seeds} --datasets {' '.join(names)}` (one process; "
              "`--write-only` rewrites this table from the JSON)", "",
              f"Environment: {env}"]
    harness.write_markdown("stacked_ensemble", "\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["speed", "ensemble", "table2"], required=True)
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--epochs", type=int, default=4, help="speed: epochs per phase")
    parser.add_argument("--repeats", type=int, default=2, help="speed: repeats (minimum taken)")
    parser.add_argument("--members", type=int, nargs="*", default=None)
    parser.add_argument("--no-wall", dest="wall", action="store_false")
    parser.add_argument("--seeds", type=int, default=10, help="ensemble: splits")
    parser.add_argument("--resume", action="store_true",
                        help="ensemble: keep the splits already in stacked_ensemble.json; "
                             "table2: only rewrite the table from stacked_table2.json")
    parser.add_argument("--write-only", action="store_true",
                        help="only write the part's table from its JSON (speed: with the "
                             "stored options; table2: as --resume), fitting nothing")
    args = parser.parse_args()
    if args.part == "speed":
        if args.write_only:  # rewrite the table from the stored records, keep the JSON
            stored = harness.read_json("stacked_speed")
            _write_speed(_speed_results(harness.records_from_json(stored["records"])),
                         stored["settings"], stored["environment"])
            return
        args.datasets = args.datasets or ["shuttle", "cardio"]
        args.members = args.members or [1, 10, 30]
        speed(args)
    elif args.part == "table2":
        args.datasets = args.datasets or ["arrhythmia", "cardio", "thyroid"]
        if args.resume or args.write_only:  # rewrite the table from the stored records
            stored = harness.read_json("stacked_table2")
            _write_table2(_table2_rows(harness.records_from_json(stored["records"])),
                          stored["environment"])
        else:
            table2(args)
    else:
        from skdeepad._benchmark import TABLE2_SETS

        args.datasets = args.datasets or list(TABLE2_SETS)
        args.members = (args.members or [10])[0]
        ensemble(args)


if __name__ == "__main__":
    main()
