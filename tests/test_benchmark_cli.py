"""The package's main job, ``python -m skdeepad``."""

from skdeepad._benchmark import NOTES_MARKER, PAPER_TABLE2, load_tasks, main, write_report


def test_offline_without_data_falls_back_to_bundled_tasks(tmp_path):
    """With an empty data home and no download, scikit-learn's bundled data are used, and said."""
    tasks, note = load_tasks(["cardio"], data_home=tmp_path, download=False)
    assert "breast_cancer" in tasks and "scikit-learn ships" in note
    X, y = tasks["breast_cancer"]
    assert 0 < y.mean() < 0.2


def test_main_prints_a_table_beside_the_paper(tmp_path, capsys):
    """A quick offline run prints one row per task and the paper's columns."""
    assert main(["--quick", "--seeds", "1", "--n-jobs", "1", "--no-download",
                 "--data-home", str(tmp_path), "--datasets", "cardio"]) == 0
    out = capsys.readouterr()
    assert "scikit-learn ships" in out.err
    assert "| breast_cancer |" in out.out and "Deep SAD (paper)" in out.out
    assert "not the paper's schedule" in out.out
    assert set(PAPER_TABLE2) == {"Deep SVDD", "Deep SAD", "OC-SVM"}


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
