"""The package's main job, ``python -m skdeepad``."""

import contextlib
import importlib.util
import io
import re
import subprocess
import sys

import numpy as np
import pytest

import skdeepad._benchmark as bench
from skdeepad._benchmark import (
    BUNDLED_CONTAMINATION,
    BUNDLED_RATIO_LABELED_ANOMALIES,
    MIN_LABELED_ANOMALIES,
    NOTES_MARKER,
    PAPER_TABLE2,
    TABLE2_SETS,
    default_methods,
    labeled_anomaly_counts,
    load_tasks,
    main,
    plot_results,
    run_benchmark,
    to_markdown,
    write_report,
)
from skdeepad.datasets import make_bundled_tasks

OFFLINE = ["--quick", "--seeds", "1", "--n-jobs", "1", "--no-download"]


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(text, header_start="| dataset |"):
    """The last markdown table in ``text``: ``{row name: {column: cell}}``."""
    lines = text.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = _cells(lines[start])
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        rows[cells[0]] = dict(zip(header[1:], cells[1:]))
    return rows


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    """One quick offline run (bundled tasks, one seed) with ``--plot``, shared by tests."""
    home = tmp_path_factory.mktemp("empty_data_home")
    png = tmp_path_factory.mktemp("plot") / "main.png"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([*OFFLINE, "--data-home", str(home), "--datasets", "cardio",
                       "--plot", str(png)])
    return status, out.getvalue(), err.getvalue(), png


def test_offline_without_data_falls_back_to_bundled_tasks(tmp_path):
    """With an empty data home and no download, scikit-learn's bundled data are used, and said."""
    tasks, note = load_tasks(["cardio"], data_home=tmp_path, download=False)
    assert "breast_cancer" in tasks and "scikit-learn ships" in note
    X, y = tasks["breast_cancer"]
    assert 0 < y.mean() < 0.2


def test_fallback_labels_enough_anomalies_for_deep_sad():
    """Every fallback task's training split holds at least the documented minimum of labels."""
    tasks = make_bundled_tasks(contamination=BUNDLED_CONTAMINATION, random_state=0)
    counts = labeled_anomaly_counts(tasks, BUNDLED_RATIO_LABELED_ANOMALIES)
    assert set(counts) == set(tasks)
    assert min(counts.values()) >= MIN_LABELED_ANOMALIES, counts
    # The counts do not depend on the seed (the split only draws which ones).
    from skdeepad.datasets import make_semisupervised_split

    for X, y in tasks.values():
        for seed in (1, 7):
            y_partial = make_semisupervised_split(
                X, y, ratio_labeled_anomalies=BUNDLED_RATIO_LABELED_ANOMALIES,
                random_state=seed)[1]
            assert (y_partial == -1).sum() >= MIN_LABELED_ANOMALIES


def test_offline_table_has_deep_sad_apart_from_deep_svdd_and_no_paper_column(offline_run):
    """The fallback's table: Deep SAD differs from Deep SVDD everywhere, no paper columns."""
    status, out, err, _ = offline_run
    assert status == 0
    assert "scikit-learn ships" in err
    assert "(paper)" not in out and "not the paper's sets" in out
    assert f"at least {MIN_LABELED_ANOMALIES} labeled anomalies" in out
    assert "not the paper's schedule" in out  # --quick says what it is
    table = _table(out)
    assert list(table) == ["breast_cancer", "digits", "wine", "iris"]
    for task, row in table.items():
        assert row["Deep SAD"] != row["Deep SVDD"], (task, row)
        assert "n/a" not in row.values()
    # Each row was printed as its set finished, then again in the full table.
    assert all(out.count(f"| {task} |") == 2 for task in table)
    assert out.index("| iris |") < out.index("sets done")


def test_offline_run_reports_constant_features_once_per_set(offline_run):
    """Warnings from the data are summarised under the table, not interleaved with it."""
    _, out, err, _ = offline_run
    assert "are constant. A constant input" not in out + err  # the raw warning
    notes = [line for line in out.splitlines() if "constant in the training split" in line]
    assert len(notes) == 1 and notes[0].startswith("- digits:")


def test_plot_writes_a_png(offline_run):
    """``--plot FILE`` writes a PNG image."""
    _, out, _, png = offline_run
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Plot written to {png}" in out


def test_plot_results_draws_the_papers_figures(tmp_path):
    """The plot takes the paper's figures where a method has them (IF has none)."""
    pytest.importorskip("matplotlib")
    methods = ["Deep SVDD", "Deep SAD", "IsolationForest", "OC-SVM"]
    results = {(t, m): [90.0, 92.0] for t in ("cardio", "thyroid") for m in methods}
    del results[("thyroid", "OC-SVM")]  # unfinished: drawn as nothing
    path = tmp_path / "paper.png"
    plot_results(results, ["cardio", "thyroid"], methods, path, title="t")
    assert path.stat().st_size > 1000


def test_plot_without_matplotlib_is_a_usage_error(monkeypatch, capsys):
    """``--plot`` without matplotlib fails at once, saying what to install."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else find_spec(name, *a))
    with pytest.raises(SystemExit) as exc:
        main(["--plot", "x.png"])
    assert exc.value.code == 2
    assert "pip install matplotlib" in capsys.readouterr().err


def test_plot_into_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    """A ``--plot`` path that cannot be written is refused before the run, not after it."""
    with pytest.raises(SystemExit) as exc:
        main(["--plot", str(tmp_path / "missing" / "x.png")])
    assert exc.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_dataset_is_a_usage_error_naming_the_choices(capsys):
    """argparse rejects an unknown set (status 2) and lists the valid ones."""
    with pytest.raises(SystemExit) as exc:
        main(["--datasets", "cardio", "mnist"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'mnist'" in err
    assert all(name in err for name in TABLE2_SETS)
    assert "Traceback" not in err


def test_help_lists_the_sets_and_quick(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in TABLE2_SETS)
    assert "--quick" in out and "--plot" in out


def test_help_does_not_import_torch():
    """``python -m skdeepad --help`` answers without importing torch or scikit-learn."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['skdeepad', '--help']\n"
        "try:\n"
        "    runpy.run_module('skdeepad', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sklearn'))\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: python -m skdeepad" in proc.stdout
    assert "HEAVY []" in proc.stdout


def test_package_imports_lazily():
    """``import skdeepad`` is light; every public name and submodule still resolves."""
    code = (
        "import sys\n"
        "import skdeepad\n"
        "print('TORCH', 'torch' in sys.modules)\n"
        "from skdeepad import DeepSAD, StackedEnsemble\n"
        "import skdeepad.calibration\n"
        "assert skdeepad.DeepSAD is DeepSAD\n"
        "assert skdeepad.ensemble.StackedEnsemble is StackedEnsemble\n"
        "assert callable(skdeepad.fit_stacked) and callable(skdeepad.show_versions)\n"
        "assert skdeepad.model_selection.__name__ == 'skdeepad.model_selection'\n"
        "for name in skdeepad.__all__:\n"
        "    getattr(skdeepad, name)\n"
        "assert set(skdeepad.__all__) <= set(dir(skdeepad))\n"
        "assert 'calibration' in dir(skdeepad)\n"
        "try:\n"
        "    skdeepad.no_such_name\n"
        "except AttributeError as exc:\n"
        "    assert 'no_such_name' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
        "print('OK', skdeepad.__version__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "TORCH False" in proc.stdout and "OK 0.1.0" in proc.stdout


def test_ctrl_c_prints_what_finished_and_returns_130(tmp_path, monkeypatch, capsys):
    """A KeyboardInterrupt mid-run prints the partial table and a note, status 130."""
    run_job, calls = bench._run_job, []

    def interrupted_after_first(*args, **kwargs):
        calls.append((args[0], args[3]))  # (task, method)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return run_job(*args, **kwargs)

    monkeypatch.setattr(bench, "_run_job", interrupted_after_first)
    status = main([*OFFLINE, "--data-home", str(tmp_path)])
    out = capsys.readouterr()
    assert status == 130
    assert "Traceback" not in out.out + out.err
    assert "Interrupted (Ctrl-C)" in out.out
    first_task, first_method = calls[0]
    table = _table(out.out)
    assert list(table) == [first_task]  # only the set that has a finished method
    row = table[first_task]
    assert row[first_method] != "n/a"
    assert all(v == "n/a" for m, v in row.items() if m != first_method)
    assert "done in" not in out.out  # no "full table" of a complete run


def test_stacked_run_gives_the_sequential_aucs():
    """Seeds fitted as one stack give the AUCs of per-seed lone fits."""
    X, y = make_bundled_tasks(contamination=BUNDLED_CONTAMINATION)["wine"]
    tasks = {"wine": (X, y)}
    methods = default_methods(epochs=bench.QUICK_EPOCHS)
    seeds = range(3)
    plan = bench._plan(tasks, methods, list(seeds), stack=True)
    stacked_jobs = [(m, s) for _, m, s in plan if len(s) > 1]
    assert stacked_jobs == [("Deep SVDD", (0, 1, 2)), ("Deep SAD", (0, 1, 2))]
    kwargs = dict(seeds=seeds, ratio_labeled_anomalies=BUNDLED_RATIO_LABELED_ANOMALIES,
                  n_jobs=1, progress=False)
    stacked = run_benchmark(tasks, methods, stack=True, **kwargs)
    alone = run_benchmark(tasks, methods, stack=False, **kwargs)
    assert stacked.keys() == alone.keys()
    for key in alone:
        np.testing.assert_allclose(stacked[key], alone[key], rtol=1e-4, err_msg=str(key))


def test_jobs_are_planned_largest_set_first():
    """The largest set's jobs come first, its stacked (longest) jobs before the rest."""
    rng = np.random.RandomState(0)
    tasks = {n: (rng.rand(k, 3), np.r_[np.zeros(k - 5, int), np.ones(5, int)])
             for n, k in (("small", 40), ("large", 400), ("medium", 100))}
    plan = bench._plan(tasks, default_methods(epochs=1), [0, 1], stack=True)
    assert [t for t, _, _ in plan[:2]] == ["large", "large"]
    assert all(len(s) == 2 for _, _, s in plan[:2])
    assert [t for t, _, _ in plan] == sorted((t for t, _, _ in plan),
                                             key=lambda t: -len(tasks[t][1]))


def test_paper_columns_only_where_the_paper_reports_a_set():
    results = {("cardio", "Deep SAD"): [90.0, 92.0], ("wine", "Deep SAD"): [80.0]}
    methods = ["Deep SAD", "IsolationForest"]
    with_paper = to_markdown(results, ["cardio"], methods)
    assert "Deep SAD (paper)" in with_paper and "95.0 ± 1.6" in with_paper
    assert "IsolationForest (paper)" not in with_paper
    assert "91.0 ± 1.0" in with_paper and "n/a" in with_paper
    assert "(paper)" not in to_markdown(results, ["wine"], methods)
    assert set(PAPER_TABLE2) == {"Deep SVDD", "Deep SAD", "OC-SVM"}


def test_warning_notes_merge_constant_features():
    caught = {"arrhythmia": {
        (UserWarning, "Features [1, 4] are constant. A constant input ..."): ["Deep SVDD"],
        (UserWarning, "Features [4, 9] are constant. A constant input ..."): ["Deep SAD"],
        (RuntimeWarning, "something else\nsecond line"): ["OC-SVM"],
    }}
    notes = bench._warning_notes(caught)
    assert len(notes) == 2
    assert "RuntimeWarning: something else" in notes[0] and "second line" not in notes[0]
    assert re.search(r"arrhythmia: 3 feature\(s\) .*\(1, 4, 9\)", notes[1])


def test_write_report_keeps_the_notes_written_after_a_run(tmp_path):
    """Rewriting a benchmark's report replaces its tables and keeps its hand-written notes."""
    path = tmp_path / "bench.md"
    write_report(path, "| a |\n| 1 |\n")
    assert path.read_text() == "| a |\n| 1 |\n"
    path.write_text(path.read_text() + f"\n{NOTES_MARKER}\n\nRead it this way.\n")
    write_report(path, "| a |\n| 2 |")
    assert path.read_text() == f"| a |\n| 2 |\n\n{NOTES_MARKER}\n\nRead it this way.\n"
    write_report(path, "| a |\n| 3 |\n")  # idempotent: the notes are not duplicated
    assert path.read_text().count(NOTES_MARKER) == 1 and "| 2 |" not in path.read_text()
    plain = tmp_path / "plain.md"
    plain.write_text("old table\n\nunmarked text is not notes\n")
    write_report(plain, "new table")
    assert plain.read_text() == "new table\n"
