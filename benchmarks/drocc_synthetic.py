"""Tables 6 and 7 and Figure 5 of the DROCC paper (Appendix B): synthetic manifolds.

* Table 7: normals on the 2-D sine curve, anomalies on copies displaced
  vertically by 0.2 ... 2.0 (:func:`skdeepad.datasets.make_sine_manifold`).
* Table 6: normals uniform in the unit disc, anomalies on circles of radius
  1.2 ... 2.0 (:func:`skdeepad.datasets.make_sphere_manifold`).

Each method is trained once per seed on 1000 normals and scored on 1000
fresh normals plus 1000 anomalies per displacement/radius; AUC in %.
The paper gives no DROCC radius for these sets, so DROCC is run at every
radius of a fixed grid and every row is shown (none is selected on test
data).  Methods: 1-nearest-neighbour distance, IsolationForest (100 trees),
OC-SVM (RBF, gamma="scale", nu=0.1), DeepSVDD (package defaults), DROCC (gamma 2, 50 ascent steps,
ascent step 0.01, 40 epochs without warm-up, lr 1e-2, batch 128; see
``DROCC_COMMON`` for how these were chosen).  Every method sees inputs
z-scored with the training normals' statistics, as the paper assumes.

    OMP_NUM_THREADS=1 python benchmarks/drocc_synthetic.py [--seeds 3]
    python benchmarks/drocc_synthetic.py --write-only   # the md again from the JSON

Writes ``benchmarks/results/drocc_synthetic.{md,json}`` (through ``_harness``)
and ``drocc_synthetic_boundary.png`` (decision regions on the sine, Fig. 5).
The JSON holds one harness record per manifold and level (``dataset``, e.g.
"sine, displacement 0.2", the level also in ``extra``), method and seed,
metric "AUC (%)", beside the DROCC settings of the run.  ``--write-only``
rewrites the md from it, with the environment line of the run, without
fitting anything; the figure, drawn from the fitted models, is left as it is.
"""

import argparse
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepad import DROCC, DeepSVDD
from skdeepad._benchmark import shallow_methods
from skdeepad.datasets import make_sine_manifold, make_sphere_manifold

if __package__:  # python -m benchmarks.drocc_synthetic
    from ._harness import (RESULTS, Record, environment_line, read_json, records_from_json,
                           records_to_json, write_json, write_markdown)
else:  # python benchmarks/drocc_synthetic.py: Python puts benchmarks/ on the import path
    from _harness import (RESULTS, Record, environment_line, read_json, records_from_json,
                          records_to_json, write_json, write_markdown)

STEM = "drocc_synthetic"
DISPLACEMENTS = (0.2, 0.4, 0.6, 0.8, 1.0, 2.0)
SPHERE_RADII = (1.2, 1.4, 1.6, 1.8, 2.0)
DROCC_RADII = (0.1, 0.2, 0.5)
#: Chosen on a separate validation draw (training seed 5, normals + anomalies at
#: displacement 0.4 from seed 7), never on the test draws below: with a warm-up
#: of 10 epochs at lr 1e-3 (the tabular defaults) the classifier ended at the
#: constant logit 0 (AUC 0.58-0.65 on that draw); no warm-up, lr 1e-2 and
#: z-scored inputs reached 0.94.  See drocc_synthetic.md.
DROCC_COMMON = dict(gamma=2.0, ascent_step_size=0.01, ascent_num_steps=50, far_scale=1.0,
                    epochs=40, only_ce_epochs=0, lr=1e-2, batch_size=128, device="cpu")

#: Paper Tables 7 and 6 (AUC %), columns NN, OC-SVM, DeepSVDD, DROCC.
PAPER_SINE = {0.2: (100, 56.99, 65.91, 96.80), 0.4: (100, 68.84, 78.18, 99.31),
              0.6: (100, 76.95, 82.85, 99.92), 0.8: (100, 81.73, 86.26, 99.98),
              1.0: (100, 88.18, 90.51, 100), 2.0: (100, 98.56, 100, 100)}
PAPER_SPHERE = {1.2: (100, 92.00, 93.26, 99.44), 1.4: (100, 92.97, 98.81, 99.99),
                1.6: (100, 92.97, 99.99, 100), 1.8: (100, 91.87, 100, 100),
                2.0: (100, 91.83, 100, 100)}


class NearestNeighbour(BaseEstimator):
    """Minus the distance to the nearest training point."""

    def fit(self, X, y=None):
        self.nn_ = NearestNeighbors(n_neighbors=1).fit(X)
        return self

    def score_samples(self, X):
        return -self.nn_.kneighbors(X)[0][:, 0]


def methods(seed):
    """Every method behind a StandardScaler fitted on the training normals."""
    out = {"NN": NearestNeighbour(), **shallow_methods(seed),
           "DeepSVDD": DeepSVDD(random_state=seed, device="cpu")}
    for r in DROCC_RADII:
        out[f"DROCC r={r}"] = DROCC(radius=r, random_state=seed, **DROCC_COMMON)
    return {name: make_pipeline(StandardScaler(), m) for name, m in out.items()}


def evaluate(task, levels, make, seeds):
    """AUC (%) per method and level: train once per seed, test at every level."""
    aucs = {}
    models = {}
    for seed in range(seeds):
        rng = np.random.RandomState(1000 + seed)
        train, _ = make(1000, levels[0], rng)
        for name, model in methods(seed).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(train)
            if seed == 0:
                models[name] = model
            for level in levels:
                normal, anomalous = make(1000, level, np.random.RandomState(2000 + seed))
                X = np.r_[normal, anomalous]
                y = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
                auc = 100 * roc_auc_score(y, -model.score_samples(X))
                aucs.setdefault((name, level), []).append(auc)
            print(task, seed, name, [round(np.mean(aucs[(name, lv)]), 1) for lv in levels],
                  flush=True)
    return aucs, models, train


def to_markdown(aucs, levels, level_name, paper):
    names = sorted({m for m, _ in aucs}, key=lambda m: (m.startswith("DROCC"), m))
    header = [level_name, *names, "paper NN / OC-SVM / DeepSVDD / DROCC"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for level in levels:
        row = [str(level)]
        for m in names:
            v = aucs[(m, level)]
            row.append(f"{np.mean(v):.1f} ± {np.std(v):.1f}")
        row.append(" / ".join(f"{p:.1f}" for p in paper[level]))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot_boundaries(models, train, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xx, yy = np.meshgrid(np.linspace(-7.5, 7.5, 300), np.linspace(-3, 3, 160))
    grid = np.c_[xx.ravel(), yy.ravel()]
    shown = ["DROCC r=0.1", "DROCC r=0.2", "OC-SVM", "DeepSVDD"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 5.5), sharex=True, sharey=True)
    for ax, name in zip(axes.ravel(), shown):
        model = models[name]
        # Normal region at the 10 % training-score threshold (contamination "auto"
        # for the deep models; the same rule for OC-SVM for comparability).
        threshold = np.percentile(model.score_samples(train), 10)
        normal = (model.score_samples(grid) >= threshold).reshape(xx.shape)
        ax.contourf(xx, yy, normal, levels=[-0.5, 0.5, 1.5], colors=["#e9a3a3", "#9fc3e8"])
        ax.plot(train[:, 0], train[:, 1], ".", color="#d4a017", ms=1.5)
        ax.set_title(f"{name}: blue = normal (top 90 % of training scores)", fontsize=9)
    fig.suptitle("Decision regions on the 2-D sine (DROCC paper Fig. 1(b)/5); seed 0")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


PROTOCOL = ("DROCC Appendix B: 1000 training normals (seed 1000 + seed), 1000 test normals "
            "+ 1000 anomalies per level (seed 2000 + seed), z-scored on the training normals")
#: Each manifold's records: dataset prefix (the level follows) and levels.
TASKS = {"sine": ("sine, displacement", DISPLACEMENTS),
         "sphere": ("unit disc, anomaly radius", SPHERE_RADII)}


def aucs_to_records(task, aucs):
    """One record per method, level and seed (``aucs``: as :func:`evaluate` returns them)."""
    prefix = TASKS[task][0]
    return [Record(f"{prefix} {level}", m, seed, PROTOCOL, "AUC (%)", float(auc),
                   extra={"level": level})
            for (m, level), values in aucs.items() for seed, auc in enumerate(values)]


def records_to_aucs(records, task):
    """``{(method, level): [AUC of seed 0, 1, ...]}`` of one manifold, back from the records."""
    prefix = TASKS[task][0] + " "
    aucs = {}
    for r in sorted(records, key=lambda r: r.seed):
        if r.dataset.startswith(prefix):
            aucs.setdefault((r.method, r.extra["level"]), []).append(r.value)
    return aucs


def report(stored):
    """The markdown of a stored run."""
    records = records_from_json(stored["records"])
    seeds = len({r.seed for r in records})
    added = stored.get("shallow_added")
    return (
        f"# DROCC synthetic manifolds (Appendix B), AUC %, {seeds} seeds\n\n"
        "Command: `OMP_NUM_THREADS=1 python benchmarks/drocc_synthetic.py "
        f"--seeds {seeds}`\n\n"
        "1000 training normals; 1000 test normals + 1000 anomalies per row. DROCC: "
        f"{stored['drocc']}; every radius of the grid is shown (the paper does not state "
        "its radius; none is selected here; radius in z-score units). The DROCC settings "
        "were fixed on a separate validation draw, not on these test draws: with the "
        "tabular defaults (warm-up 10 epochs, lr 1e-3) the classifier ended at a constant "
        "logit (AUC 0.58-0.65 on that draw). OC-SVM: RBF, gamma='scale', nu=0.1 "
        "(untuned). DeepSVDD: package defaults. NN: distance to the nearest "
        "training point. IsolationForest: 100 trees, random_state = seed (untuned), on the "
        "same z-scored training normals and test draws as every other method."
        + (f" IsolationForest was added afterwards with `--add-shallow` ({added}): same "
           "seeds and draws (its OC-SVM refit reproduced the recorded OC-SVM AUCs), the "
           "other numbers are those of the original run." if added else "")
        + "\n\n## Table 7: sine, anomalies displaced vertically\n\n"
        + to_markdown(records_to_aucs(records, "sine"), DISPLACEMENTS, "displacement",
                      PAPER_SINE)
        + "\n\n## Table 6: unit disc, anomalies on a circle\n\n"
        + to_markdown(records_to_aucs(records, "sphere"), SPHERE_RADII, "radius",
                      PAPER_SPHERE)
        + "\n\nDecision regions: `drocc_synthetic_boundary.png`.\n\n"
        + stored["environment"] + "\n"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--write-only", action="store_true",
                        help="only rewrite drocc_synthetic.md from drocc_synthetic.json (keeps "
                             "the JSON, the figure and the environment line of the run that "
                             "measured it)")
    args = parser.parse_args()

    def sine(n, displacement, rng):
        return make_sine_manifold(n, displacement=displacement, random_state=rng)

    def sphere(n, radius, rng):
        return make_sphere_manifold(n, radius=radius, random_state=rng)

    if args.write_only:
        stored = read_json(STEM)
    else:
        sine_aucs, sine_models, sine_train = evaluate("sine", DISPLACEMENTS, sine, args.seeds)
        sphere_aucs, _, _ = evaluate("sphere", SPHERE_RADII, sphere, args.seeds)
        RESULTS.mkdir(exist_ok=True)
        plot_boundaries(sine_models, sine_train, RESULTS / "drocc_synthetic_boundary.png")
        stored = {"environment": environment_line(), "drocc": DROCC_COMMON,
                  "records": records_to_json(aucs_to_records("sine", sine_aucs)
                                             + aucs_to_records("sphere", sphere_aucs))}
        write_json(STEM, stored)
    text = report(stored)
    write_markdown(STEM, text)
    print(text)


if __name__ == "__main__":
    main()
