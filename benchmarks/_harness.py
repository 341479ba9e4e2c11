"""Shared pieces of the benchmark scripts: one record schema, the writers, the baselines.

Import it relatively, as the converted scripts do::

    if __package__:  # python -m benchmarks.stacked
        from ._harness import RESULTS, write_json
    else:  # python benchmarks/stacked.py: Python puts benchmarks/ on the import path
        from _harness import RESULTS, write_json

What it provides, on top of :mod:`skdeepad._benchmark` (whose
:func:`~skdeepad._benchmark.write_report`,
:func:`~skdeepad._benchmark.environment` and
:func:`~skdeepad._benchmark.shallow_methods` it reuses rather than copies):

* :class:`Record`, one measured number: dataset, method, seed, protocol,
  metric, value, fit seconds and free-form extras;
  :func:`records_to_json` / :func:`records_from_json` store a list of them,
  :func:`group_values` / :func:`records_table` turn records into a mean ±
  std table, and :func:`stored_values` reads another script's stored
  records (``odds_deepsad.json``'s Deep SVDD / Deep SAD seeds, reused by
  ``kd_odds.py``, ``odds_table2.py`` and ``stacked.py``);
* :func:`markdown_table`, :func:`mean_std`: the tables' formatting;
* :func:`write_markdown` (through ``write_report``: the hand-written
  ``## Notes (written after the run; ...)`` section of the file being
  replaced is kept), :func:`write_json` (``indent=1``, the run's
  environment line added), :func:`read_json`;
* :func:`environment_line`: the line of versions, machine and date; given
  the line stored in a results file (:func:`recorded_environment`) it
  returns that one, so a table rewritten from stored results keeps the
  environment of the run that measured them;
* :func:`shallow_baselines` / :func:`add_shallow_baselines`: IsolationForest
  and OC-SVM (untuned: 100 trees; RBF, ``gamma="scale"``, ``nu=0.1``) on
  the same split, as records, so that every results table can carry them.
"""

import dataclasses
import json
import pathlib
import time

import numpy as np

from skdeepad._benchmark import NOTES_MARKER, environment, shallow_methods, write_report

__all__ = [
    "NOTES_MARKER",
    "RESULTS",
    "Record",
    "add_shallow_baselines",
    "dumps",
    "environment_line",
    "group_values",
    "markdown_table",
    "mean_std",
    "read_json",
    "recorded_environment",
    "records_from_json",
    "records_table",
    "records_to_json",
    "shallow_baselines",
    "stored_values",
    "write_json",
    "write_markdown",
]

#: Where every script writes its results.
RESULTS = pathlib.Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------------------
# the record schema
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Record:
    """One measured number of a benchmark.

    Attributes
    ----------
    dataset : str
        The data set or task (``"cardio"``, ``"mnist digit 3"``).
    method : str
        The method as the table names it (``"Deep SAD"``, ``"IsolationForest"``).
    seed : int
        The seed of the split and of the estimator.
    protocol : str
        How the data were split and scored, in a few words (for example
        ``"deep-sad-table2"``: 60:40 split, 1 % labeled anomalies, no pollution).
    metric : str
        What ``value`` is (``"AUC (%)"``, ``"F1"``, ``"CPU s/epoch"``).
    value : float
    fit_seconds : float or None, default=None
        Wall-clock seconds of ``fit``, if measured.
    extra : dict, default={}
        Anything else worth keeping (CPU seconds, load average, settings).
    """

    dataset: str
    method: str
    seed: int
    protocol: str
    metric: str
    value: float
    fit_seconds: float | None = None
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def key(self):
        """``(dataset, method, seed, protocol, metric)``: what identifies the record."""
        return (self.dataset, self.method, self.seed, self.protocol, self.metric)


def records_to_json(records):
    """The records as a list of plain dicts (for ``json.dumps``)."""
    return [dataclasses.asdict(r) for r in records]


def records_from_json(rows):
    """Records from the dicts :func:`records_to_json` wrote."""
    return [Record(**row) for row in rows]


def group_values(records, metric=None):
    """``{(dataset, method): [value, ...]}`` in seed order (of ``metric`` only, if given)."""
    groups = {}
    for r in sorted(records, key=lambda r: r.seed):
        if metric is None or r.metric == metric:
            groups.setdefault((r.dataset, r.method), []).append(r.value)
    return groups


# ---------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------


def mean_std(values, digits=1):
    """``"mean ± std"`` of ``values`` (population std, as every table here)."""
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def markdown_table(header, rows, align=None):
    """A markdown table as a list of lines.

    Parameters
    ----------
    header : sequence of str
    rows : iterable of sequence
        Cells are written with ``str``.
    align : sequence of {"", "l", "r"}, default=None
        Per column: ``"r"`` writes ``---:``, anything else ``---``.
    """
    align = align or [""] * len(header)
    lines = ["| " + " | ".join(header) + " |",
             "|" + "".join("---:|" if a == "r" else "---|" for a in align)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def records_table(records, datasets=None, methods=None, metric=None, digits=1,
                  missing="n/a"):
    """Mean ± std over seeds: one row per dataset, one column per method.

    Returns the table's lines (see :func:`markdown_table`).
    """
    groups = group_values(records, metric)
    datasets = list(datasets or dict.fromkeys(d for d, _ in groups))
    methods = list(methods or dict.fromkeys(m for _, m in groups))
    rows = [[d] + [mean_std(groups[d, m], digits) if (d, m) in groups else missing
                   for m in methods] for d in datasets]
    return markdown_table(["dataset", *methods], rows)


# ---------------------------------------------------------------------------
# writing and reading results
# ---------------------------------------------------------------------------


def environment_line(stored=None):
    """The environment line of a results file.

    ``stored`` (the ``"environment"`` entry of a results JSON) is returned
    as it is when given: a table rewritten from stored results names the
    run that measured them.  Otherwise the line of this process
    (:func:`skdeepad._benchmark.environment`: skdeepad, torch, numpy,
    scikit-learn and Python versions, machine, UTC date).
    """
    return stored if stored else environment()


def recorded_environment(stem, prefix="Environment: ", markdown_first=False):
    """The environment line of the run behind ``results/<stem>``, or None.

    The ``"environment"`` entry of ``results/<stem>.json`` if it has one,
    else the last line of ``results/<stem>.md`` (before the notes) that
    starts with ``prefix`` (for results files whose JSON does not record
    it).  ``markdown_first=True`` looks in the markdown first: for a file
    whose table was written later than its JSON, so that rewriting it
    gives back the same line.  For rewriting a table from stored results
    without claiming a new run.
    """
    def from_json():
        path = RESULTS / f"{stem}.json"
        if path.exists():
            stored = json.loads(path.read_text())
            if isinstance(stored, dict) and isinstance(stored.get("environment"), str):
                return stored["environment"]
        return None

    def from_markdown():
        path = RESULTS / f"{stem}.md"
        if path.exists():
            text = path.read_text().split(NOTES_MARKER, 1)[0]
            lines = [line for line in text.splitlines() if line.startswith(prefix)]
            if lines:
                return lines[-1][len(prefix):]
        return None

    first, second = (from_markdown, from_json) if markdown_first else (from_json, from_markdown)
    return first() or second()


def read_json(stem):
    """The JSON file ``results/<stem>.json``."""
    return json.loads((RESULTS / f"{stem}.json").read_text())


def stored_values(stem, metric="AUC (%)"):
    """``{(dataset, method): [value of seed 0, 1, ...]}`` of the records in ``results/<stem>.json``."""
    return group_values(records_from_json(read_json(stem)["records"]), metric)


def dumps(payload):
    """``payload`` as JSON text: ``indent=1``, but one line per record of a ``"records"`` list.

    A record per line keeps the files about half the size of an indented
    dump and makes a rerun's diff one line per changed number.
    """
    parts = []
    for key, value in payload.items():
        if key == "records" and isinstance(value, list) and value:
            rows = ",\n".join("  " + json.dumps(r) for r in value)
            parts.append(f' "records": [\n{rows}\n ]')
        else:
            text = json.dumps(value, indent=1).replace("\n", "\n ")
            parts.append(f" {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}"


def write_json(stem, payload, env=None):
    """Write ``payload`` to ``results/<stem>.json`` (:func:`dumps`) and return the path.

    ``payload`` (a dict) gets an ``"environment"`` entry, ``env`` or the
    current :func:`environment_line`, unless it has one.
    """
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{stem}.json"
    payload = {**payload}
    payload.setdefault("environment", env or environment_line())
    path.write_text(dumps(payload))
    return path


def write_markdown(stem, text):
    """Write ``results/<stem>.md`` through ``write_report`` and return the path.

    The notes section of the file being replaced (from :data:`NOTES_MARKER`
    on) is kept, so a rerun updates the tables without erasing how they
    were read.
    """
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{stem}.md"
    write_report(path, text)
    return path


# ---------------------------------------------------------------------------
# IsolationForest and OC-SVM beside every table
# ---------------------------------------------------------------------------


def shallow_baselines(dataset, seed, X_train, X_test, y_test, protocol,
                      methods=("IsolationForest", "OC-SVM")):
    """AUC (%) of untuned IsolationForest and OC-SVM on one split, as records.

    The estimators are those of :func:`skdeepad._benchmark.shallow_methods`
    (``IsolationForest(random_state=seed)``: 100 trees, 256 sub-samples;
    ``OneClassSVM(gamma="scale", nu=0.1)``), fit on ``X_train`` (pass the
    rows an unsupervised method may train on: without labeled anomalies)
    and scored with ``-score_samples`` on ``X_test``; images (any trailing
    shape) are flattened to rows.  ``y_test`` is 1 for an anomaly.

    Returns
    -------
    records : list of Record
        One per method, ``metric="AUC (%)"``, with the fit's wall-clock
        seconds and, in ``extra``, its process CPU seconds.
    """
    from sklearn.metrics import roc_auc_score

    X_train = np.asarray(X_train).reshape(len(X_train), -1)
    X_test = np.asarray(X_test).reshape(len(X_test), -1)
    estimators = shallow_methods(seed)
    out = []
    for method in methods:
        est = estimators[method]
        tic, cpu = time.perf_counter(), time.process_time()
        est.fit(X_train)
        wall, cpu = time.perf_counter() - tic, time.process_time() - cpu
        auc = 100.0 * roc_auc_score(y_test, -est.score_samples(X_test))
        out.append(Record(dataset, method, seed, protocol, "AUC (%)", float(auc),
                          fit_seconds=wall, extra={"fit_cpu_seconds": cpu}))
    return out


def add_shallow_baselines(records, splits, protocol, methods=("IsolationForest", "OC-SVM")):
    """Add the :func:`shallow_baselines` records that ``records`` lacks.

    Parameters
    ----------
    records : list of Record
        A benchmark's records; left unchanged.
    splits : iterable of tuple (dataset, seed, X_train, X_test, y_test)
        The splits the benchmark used (the same ones, so that the baselines
        are compared on equal terms).
    protocol : str
    methods : sequence of str, default=("IsolationForest", "OC-SVM")

    Returns
    -------
    records : list of Record
        ``records`` followed by the new baseline records.
    """
    done = {(r.dataset, r.method, r.seed, r.protocol) for r in records}
    new = []
    for dataset, seed, X_train, X_test, y_test in splits:
        todo = [m for m in methods if (dataset, m, seed, protocol) not in done]
        if todo:
            new += shallow_baselines(dataset, seed, X_train, X_test, y_test, protocol, todo)
    return list(records) + new
