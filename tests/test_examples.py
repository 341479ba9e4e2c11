"""The gallery's example scripts run at their smallest size and compute what they claim.

Each script is run as ``python examples/<name>.py <figure> --quick`` would
run it (``SKDEEPAD_EXAMPLE_QUICK=1``, matplotlib's Agg backend), and the
namespace it leaves is checked: the AUCs it prints, the figure it was asked
to save, and that it wrote nothing else.
"""

import ast
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(name, tmp_path, monkeypatch, *, save=True, run_name="__main__"):
    """Run ``examples/<name>.py`` in quick mode; return the namespace it leaves."""
    script = EXAMPLES / f"{name}.py"
    figure = tmp_path / "figure.png"
    monkeypatch.setenv("SKDEEPAD_EXAMPLE_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(sys, "argv", [str(script)] + ([str(figure)] if save else []))
    monkeypatch.chdir(tmp_path)
    before = sorted(EXAMPLES.iterdir())
    try:
        namespace = runpy.run_path(str(script), run_name=run_name)
    finally:
        plt.close("all")
    assert sorted(EXAMPLES.iterdir()) == before, "the example wrote into examples/"
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == (["figure.png"] if save else []), written
    if save:
        assert figure.stat().st_size > 0
    return namespace


def test_every_example_has_a_gallery_title_and_a_quick_switch():
    """Each script opens with a titled docstring and honours SKDEEPAD_EXAMPLE_QUICK."""
    scripts = sorted(EXAMPLES.glob("*.py"))
    assert len(scripts) >= 9
    for script in scripts:
        source = script.read_text(encoding="utf-8")
        lines = (ast.get_docstring(ast.parse(source)) or "").splitlines()
        assert len(lines) > 2 and set(lines[1]) == {"="} and len(lines[1]) >= len(lines[0]), \
            script.name
        assert "SKDEEPAD_EXAMPLE_QUICK" in source, script.name


def test_labeled_anomalies_help_deep_sad(tmp_path, monkeypatch):
    """Five labeled anomalies lift Deep SAD above chance and above Deep SVDD."""
    aucs = _run("plot_labeled_anomalies", tmp_path, monkeypatch)["aucs"]
    svdd, sad = aucs["Deep SVDD (unsupervised)"], aucs["Deep SAD (5 labeled anomalies)"]
    assert sad > 0.5 and sad > svdd


def test_drocc_toy_separates_the_shifted_curves(tmp_path, monkeypatch):
    """DROCC with a small radius ranks the displaced sine curves as anomalous."""
    ns = _run("plot_drocc_toy", tmp_path, monkeypatch)
    assert ns["aucs"]["DROCC, radius 0.2"] > 0.5
    assert set(ns["aucs"]) == {"DROCC, radius 0.2", "DROCC, radius 1.5",
                               "One-Class SVM (RBF)", "IsolationForest"}


def test_ama_and_kd_detect_other_digits(tmp_path, monkeypatch):
    """AMA's A-score, the KD student and the teacher's features rank other digits higher."""
    ns = _run("plot_ama_kd_digits", tmp_path, monkeypatch)
    aucs = ns["aucs"]
    assert aucs["AMA A-score"] > 0.5
    # The RotNet student is too short-trained in the quick run to be asserted on.
    assert aucs["KD, random teacher"] > 0.5 and aucs["Mahalanobis, RotNet teacher"] > 0.5
    assert np.isfinite(ns["r_test"]).all()


def test_adra_modes_detect_novel_digits_and_adra_trains_fewer_parameters(tmp_path,
                                                                         monkeypatch):
    """Every mode beats chance; ADRA trains a fraction of fine-tuning's parameters."""
    ns = _run("plot_adra_tiny", tmp_path, monkeypatch)
    assert all(ns["aucs"][mode] > 0.5 for mode in ("adra", "finetune", "scratch"))
    detectors = ns["detectors"]
    assert (detectors["adra"].n_trainable_parameters_
            < 0.5 * detectors["finetune"].n_trainable_parameters_)


def test_ssad_labels_move_the_boundary_and_hybrids_run(tmp_path, monkeypatch):
    """Labeled anomalies lift SSAD's toy AUC; every pipeline of the hybrid part beats chance."""
    ns = _run("plot_ssad_hybrid", tmp_path, monkeypatch)
    toy = ns["toy_aucs"]
    assert toy["SSAD, 5 labeled anomalies"] > toy["SSAD, no labels (= SVDD)"]
    assert all(auc > 0.5 for auc in ns["aucs"].values())


def test_hybrid_grid_search_refits_the_best_candidate(tmp_path, monkeypatch):
    """The search picks a candidate of its grid and the refitted pipeline beats chance."""
    ns = _run("plot_hybrid_grid_search", tmp_path, monkeypatch)
    search, grid = ns["search"], ns["grid"]
    assert all(search.best_params_[k] in grid[k] for k in grid)
    assert ns["test_auc"] > 0.5


def test_stacked_ensemble_members_equal_lone_fits(tmp_path, monkeypatch):
    """Five members per split, each equal to its lone fit; the ensemble beats chance."""
    ns = _run("plot_stacked_ensemble", tmp_path, monkeypatch)
    assert ns["same"]
    assert all(len(aucs) == 5 for aucs in ns["member_aucs"])
    assert all(auc > 0.5 for auc in ns["ensemble_aucs"])


def test_conformal_thresholds_give_valid_p_values(tmp_path, monkeypatch):
    """p-values lie in (0, 1]; the realised FDR stays near or below each level."""
    ns = _run("plot_conformal_thresholds", tmp_path, monkeypatch)
    assert np.all((ns["p"] > 0) & (ns["p"] <= 1))
    assert np.all(ns["conformal_fdp"].mean(axis=0) <= ns["levels"] + 0.05)


def test_examples_save_a_figure_only_when_asked(tmp_path, monkeypatch):
    """Without a file argument a script writes nothing (it only shows its figures)."""
    _run("plot_drocc_toy", tmp_path, monkeypatch, save=False)


def test_dask_grid_search_runs_on_a_local_cluster(tmp_path, monkeypatch):
    """The Dask example's search runs on a local cluster and refits a useful model."""
    pytest.importorskip("distributed")
    ns = _run("dask_grid_search", tmp_path, monkeypatch, save=False, run_name="example")
    search, test_auc = ns["main"]()
    assert len(search.cv_results_["params"]) == 6
    assert test_auc > 0.5
