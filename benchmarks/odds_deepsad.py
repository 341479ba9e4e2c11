"""Reproduce the Deep SVDD and Deep SAD columns of Table 2 (Ruff et al., ICLR 2020).

Protocol (the paper's, in the authors' code's form; see
``skdeepad.datasets.make_semisupervised_split``): for each seed, normals and
anomalies are split 60:40 separately, standardised then min-max scaled on the
training split, 1 % of the training set are labeled anomalies
(gamma_l = 0.01), the rest of the training anomalies are dropped
(gamma_p = 0).  Every method sees the same splits.  Nothing is chosen on test
data: every setting is fixed in advance and written in the output.

Run from a venv that has skdeepad (and, optionally, PyOD and DeepOD installed
with ``--no-deps``, see ``benchmarks/requirements-peers.txt``)::

    SKDEEPAD_DATA=../shared/data python benchmarks/odds_deepsad.py            # full run
    SKDEEPAD_DATA=../shared/data python benchmarks/odds_deepsad.py --seeds 2 --datasets cardio

    ... python benchmarks/odds_deepsad.py --write-only    # the md from the stored records

Writes ``benchmarks/results/odds_deepsad.md`` and ``.json`` (harness records,
one per dataset, method and seed, with the run's settings).
"""

import argparse
import time
import warnings

import numpy as np

from skdeepad import DeepSAD, DeepSVDD
from skdeepad._benchmark import (
    PAPER_TABLE2,
    TABLE2_SETS,
    default_methods,
    load_tasks,
    run_benchmark,
    to_markdown,
)

if __package__:  # python -m benchmarks.odds_deepsad
    from ._harness import (Record, environment_line, group_values, read_json,
                           records_from_json, records_to_json, write_json, write_markdown)
else:  # python benchmarks/odds_deepsad.py: Python puts benchmarks/ on the import path
    from _harness import (Record, environment_line, group_values, read_json,
                          records_from_json, records_to_json, write_json, write_markdown)

PROTOCOL = "deep-sad-table2 (gamma_l = 0.01, gamma_p = 0)"
METRIC = "AUC (%)"


class _Peer:
    """Adapter giving a peer detector ``fit`` / ``anomaly_score`` (higher = more anomalous)."""

    def __init__(self, make, uses_labels):
        self.make, self._uses_labels = make, uses_labels

    def fit(self, X, y_partial=None):
        self.model_ = self.make(X.shape[1])
        if self._uses_labels:  # DeepOD: 1 = known anomaly, 0 = unlabeled
            self.model_.fit(X.astype(np.float32), (y_partial == -1).astype(int))
        else:
            self.model_.fit(X.astype(np.float32))
        return self

    def anomaly_score(self, X):
        return self.model_.decision_function(X.astype(np.float32))


def peer_methods():
    """PyOD's DeepSVDD and DeepOD's DeepSAD at their own defaults (CPU, quiet)."""
    methods = {}
    try:
        from pyod.models.deep_svdd import DeepSVDD as PyODDeepSVDD

        methods["PyOD DeepSVDD"] = lambda seed: _Peer(
            lambda d: PyODDeepSVDD(n_features=d, random_state=seed, verbose=0), False)
    except ImportError:
        pass
    try:
        from deepod.models.tabular import DeepSAD as DeepODDeepSAD

        methods["DeepOD DeepSAD"] = lambda seed: _Peer(
            lambda d: DeepODDeepSAD(device="cpu", verbose=0, random_state=seed), True)
    except ImportError:
        pass
    return methods


def ablations():
    """Our defaults' alternatives: the paper's text where the authors' code differs,
    the previous defaults, and the documented option that is ahead of the peers."""
    def sad(**kw):
        return lambda seed: DeepSAD(random_state=seed, device="cpu", **kw)

    return {
        "Deep SAD, no pretraining (the reference code's effective behaviour)":
            sad(pretrain=False),
        "Deep SAD, Glorot init (paper's Appendix E)": sad(init="glorot"),
        "Deep SAD, batch 200 (paper's text)": sad(batch_size=200),
        "Deep SAD, Glorot + batch 200 (the defaults before this change)":
            sad(init="glorot", batch_size=200),
        "Deep SAD, balanced batches + lr 1e-3 (documented option)":
            sad(sampling="balanced", lr=1e-3),
        "Deep SVDD, no pretraining":
            lambda seed: DeepSVDD(pretrain=False, random_state=seed, device="cpu"),
    }


def deepod_ingredients():
    """DeepOD's DeepSAD differs from the paper by balanced batches, lr 1e-3, a wider
    ReLU network without pretraining and 100 epochs; these isolate the ingredients."""
    return {
        "Deep SAD, balanced batches":
            lambda seed: DeepSAD(sampling="balanced", random_state=seed, device="cpu"),
        "Deep SAD, balanced batches + lr 1e-3":
            lambda seed: DeepSAD(sampling="balanced", lr=1e-3, random_state=seed, device="cpu"),
        "Deep SAD, balanced + lr 1e-3, no pretraining":
            lambda seed: DeepSAD(sampling="balanced", lr=1e-3, pretrain=False,
                                 random_state=seed, device="cpu"),
        "Deep SAD, balanced + lr 1e-3, DeepOD's width (100, 50, 128)":
            lambda seed: DeepSAD(sampling="balanced", lr=1e-3, hidden_layer_sizes=(100, 50, 128),
                                 random_state=seed, device="cpu"),
        "Deep SAD, balanced + lr 1e-3, batch 64":
            lambda seed: DeepSAD(sampling="balanced", lr=1e-3, batch_size=64,
                                 random_state=seed, device="cpu"),
    }


def report(stored):
    """The markdown of a stored run (its records and settings)."""
    settings = stored["settings"]
    results = group_values(records_from_json(stored["records"]), METRIC)
    tasks, extra = settings["datasets"], settings["extra_methods"]
    lines = [
        "# Deep SAD paper, Table 2 (ODDS, gamma_l = 0.01, gamma_p = 0)",
        "",
        f"AUC (%) mean ± std over {settings['seeds']} seeds (peers: {settings['peer_seeds']} "
        "seeds, the first seeds' splits). Columns marked (paper) are Ruff et al. (2020), "
        "Table 2.",
        "",
        to_markdown(results, tasks, settings["main_methods"]),
        "",
        "## " + ("Options: DeepOD's ingredients in our Deep SAD" if settings["ingredients"]
                 else "Ablations: where the paper and the authors' code differ"),
        "",
        to_markdown(results, tasks, extra, paper={}) if extra else "(not run)",
        "",
        "## Settings (all fixed in advance; nothing selected on test data)",
        "",
        "- Deep SVDD / Deep SAD: skdeepad defaults = the paper's Appendix D/E where the "
        "authors' code agrees with it, the code where they differ: Adam, lr 1e-4 for 50 "
        "epochs then 1e-5 for 100, batch 128 (code; paper 200), PyTorch's default weight "
        "initialisation (code; paper Glorot), weight decay 1e-6, eta 1, AE pretraining "
        "(150 epochs, same schedule), MLP 128-64-32 (arrhythmia), 32-16-4 (thyroid), "
        "32-16-8 (others), BN without affine, leaky ReLU 0.1, no biases, a final batch "
        "below half a batch folded into the previous one; final epoch reported. Deep SVDD "
        "is One-Class Deep SVDD trained without the labeled anomalies.",
        "- IsolationForest: 100 trees, 256 sub-samples (Appendix E). OC-SVM: RBF, "
        "gamma='scale', nu=0.1 (the paper tuned gamma and nu on 10 % of the test set).",
        "- PyOD DeepSVDD and DeepOD DeepSAD: their own defaults, on the CPU, quiet. "
        "Unsupervised methods are trained on the training split without its labeled anomalies.",
        "",
        settings["note"],
        "Wall time of our methods' fits: " + (
            "not recorded" if settings["wall_seconds"] is None else
            f"{settings['wall_seconds']:.0f} s" + (
                " (Deep SVDD / Deep SAD seeds stacked with --stacked)" if settings["stacked"]
                else "")) + ".",
        f"Environment: {environment_line(stored['environment'])}",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--peer-seeds", type=int, default=10,
                        help="seeds for the (slower) peers; seeds 0..k-1 of the same splits")
    parser.add_argument("--datasets", nargs="*", default=list(TABLE2_SETS))
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--ingredients", action="store_true",
                        help="run only the DeepOD-ingredient configurations (with IF and "
                             "OC-SVM) and write <output>_ingredients.md")
    parser.add_argument("--output", default="odds_deepsad")
    parser.add_argument("--stacked", action="store_true",
                        help="fit the seeds of each Deep SVDD / Deep SAD configuration as one "
                             "stack (skdeepad.fit_stacked); same numbers, less time")
    parser.add_argument("--only", nargs="*", default=None,
                        help="with --ingredients: run only the configurations named")
    parser.add_argument("--write-only", action="store_true",
                        help="rewrite the md from the stored records, fitting nothing")
    args = parser.parse_args()
    if args.ingredients:
        args.output += "_ingredients"
    if not args.write_only:
        run(args)
    md = report(read_json(args.output))
    write_markdown(args.output, md + "\n")
    print(md)


def run(args):
    """Fit everything and store the records and the settings the report needs."""
    warnings.filterwarnings("ignore", message="Features .* are constant")
    tasks, note = load_tasks(args.datasets)
    ours = default_methods()
    extra = {} if args.no_ablations else ablations()
    peers = peer_methods()
    if args.ingredients:
        ours = {k: v for k, v in ours.items() if k in ("IsolationForest", "OC-SVM")}
        extra, peers = deepod_ingredients(), {}
        if args.only:
            extra = {k: v for k, v in extra.items() if k in args.only}
    tic = time.perf_counter()
    # With --stacked, run_benchmark fits the seeds of each Deep SVDD / Deep SAD
    # configuration as one stack (fit_stacked, per_estimator=True): same models.
    results = run_benchmark(tasks, {**ours, **extra}, seeds=range(args.seeds),
                            n_jobs=args.n_jobs, stack=args.stacked)
    wall = time.perf_counter() - tic
    if peers:
        results.update(run_benchmark(tasks, peers, seeds=range(args.peer_seeds),
                                     n_jobs=args.n_jobs, stack=False))
    records = [Record(task, method, seed, PROTOCOL, METRIC, float(auc))
               for (task, method), aucs in results.items() for seed, auc in enumerate(aucs)]
    settings = dict(seeds=args.seeds, peer_seeds=args.peer_seeds, datasets=list(tasks),
                    main_methods=[*ours, *peers], extra_methods=list(extra),
                    ingredients=args.ingredients, stacked=args.stacked, wall_seconds=wall,
                    note=note or "")
    write_json(args.output, {"settings": settings, "paper": PAPER_TABLE2,
                             "records": records_to_json(records)})


if __name__ == "__main__":
    main()
