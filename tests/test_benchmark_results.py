"""The committed benchmark results that are stored as harness records.

Each such file loads into records with finite values, one per (dataset,
method, seed, protocol, metric), and the reports of the scripts that write
them come back, table for table, from the records alone: a change to a
script's report code or to the record schema that would no longer
reproduce a committed table fails here, without rerunning a benchmark.
"""

import json
import math

import pytest

from benchmarks import ama_odds, kd_odds, odds_deepsad
from benchmarks._harness import (
    NOTES_MARKER,
    RESULTS,
    Record,
    read_json,
    records_from_json,
    records_to_json,
    stored_values,
)


def _record_files():
    stems = []
    for path in sorted(RESULTS.glob("*.json")):
        rows = json.loads(path.read_text()).get("records") if path.stat().st_size else None
        if isinstance(rows, list) and rows and {"metric", "value"} <= set(rows[0]):
            stems.append(path.stem)
    return stems


RECORD_FILES = _record_files()


def _committed(stem):
    """The committed markdown without its hand-written notes."""
    return (RESULTS / f"{stem}.md").read_text().split(NOTES_MARKER, 1)[0].rstrip("\n")


#: The one results file with its own layout: flattened to one value per record
#: (per split, mode, FDR level and metric) it would grow from 0.5 to 3.3 MB.
OWN_LAYOUT = {"conformal"}


def test_every_results_file_but_conformal_is_stored_as_records():
    stems = {path.stem for path in RESULTS.glob("*.json")}
    assert stems - set(RECORD_FILES) == OWN_LAYOUT


def test_records_survive_the_json_round_trip():
    records = [Record("cardio", "Deep SAD", 3, "p", "AUC (%)", 93.5, 1.5, {"group": "deep"})]
    assert records_from_json(json.loads(json.dumps(records_to_json(records)))) == records


@pytest.mark.parametrize("stem", RECORD_FILES)
def test_each_records_file_has_one_finite_value_per_key(stem):
    stored = read_json(stem)
    records = records_from_json(stored["records"])
    assert records and isinstance(stored["environment"], str)
    assert all(math.isfinite(r.value) for r in records)
    keys = [r.key for r in records]
    assert len(keys) == len(set(keys))


def test_stored_values_lists_each_method_in_seed_order():
    records = records_from_json(read_json("odds_deepsad")["records"])
    values = stored_values("odds_deepsad")
    for r in records:
        assert values[r.dataset, r.method][r.seed] == r.value


def test_odds_deepsad_report_comes_back_from_its_records():
    assert odds_deepsad.report(read_json("odds_deepsad")) == _committed("odds_deepsad")


def test_ama_odds_report_comes_back_from_its_records():
    stored = read_json("ama_odds")
    text = ama_odds.to_markdown(records_from_json(stored["records"]), ama_odds.SETS,
                                stored["environment"])
    assert text == _committed("ama_odds")


def test_kd_odds_report_comes_back_from_its_records():
    assert kd_odds.report(read_json("kd_odds")) == _committed("kd_odds")
