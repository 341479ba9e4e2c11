"""Sphinx configuration of the skdeepad documentation.

Build with (from the repository root)::

    sphinx-build -W -b html docs docs/_build/html

Parts of the documentation are made at build time from the code and the
repository, so that nothing has to be edited by hand when the package grows:

* ``api.rst`` includes ``_gen_api.rst``, an autosummary listing of every
  public name in the ``__all__`` of :data:`API_MODULES`;
* ``benchmarks.rst`` includes ``_gen_benchmarks.rst``, which lists one page
  per Markdown result file in ``benchmarks/results/``; the pages are written
  to ``bench/`` and each has a label ``bench-<file stem>`` that other pages
  link to;
* ``auto_examples/`` is the example gallery: sphinx-gallery runs every
  ``examples/plot_*.py`` script and renders its text, code, output and
  figures (other scripts, such as ``dask_grid_search.py``, are shown without
  being run).  ``SKDEEPAD_EXAMPLE_QUICK=1`` in the environment makes the
  scripts shrink their epochs and repetitions, for a fast CI build; the
  numbers on the pages are then those of the smaller runs.

The ``_gen_*.rst`` fragments are written next to this file (an autosummary
``:toctree:`` is resolved relative to the file that holds the directive, so
the API fragment must sit beside ``api.rst``), are ignored by git
(``docs/.gitignore``) and are excluded as stand-alone documents. The result
pages (``bench/``), the gallery (``auto_examples/``) and the API stubs
(``generated/``) are documents of their own, also written at build time and
ignored by git.
"""

import inspect
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent

# Document the checkout this file belongs to, installed or not.
sys.path.insert(0, str(REPO))

import skdeepad  # noqa: E402

# -- Project information -------------------------------------------------------

project = "skdeepad"
author = "skdeepad developers"
copyright = "skdeepad developers"
release = skdeepad.__version__
version = ".".join(release.split(".")[:2])

# -- General configuration -----------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
# sphinx.ext.intersphinx is left out on purpose: it fetches inventories from
# the network, which the build must not need.

templates_path = ["_templates"]
exclude_patterns = ["_build", "_gen_*.rst", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"

# autodoc / autosummary.  Stubs go to docs/generated/ (ignored by git): the
# ``:toctree: generated/`` of the API listing.  ``autosummary_generate`` is
# set below, once the fragments exist, to the list of every top-level page
# *and* the generated API fragment: with ``True`` autosummary would scan only
# the documents, and the fragment is excluded as a document of its own
# because ``api.rst`` includes it.
autosummary_generate_overwrite = True
autosummary_imported_members = False
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = True

# numpydoc: class members are listed by the autosummary templates
# (docs/_templates/autosummary/), not by numpydoc, so that no method appears
# twice and no stub is asked for a method that has no page.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- HTML output -----------------------------------------------------------------

html_theme = "furo"
html_title = f"skdeepad {release}"
html_theme_options = {
    "navigation_with_keys": True,
}
html_static_path = []
html_show_sourcelink = False

# -- Example gallery (sphinx-gallery) -------------------------------------------

# The gallery's sort key, a class in docs/_gallery_order.py, is imported by
# name: docs/ must be importable.
sys.path.insert(0, str(DOCS))

sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "examples"),
    "gallery_dirs": "auto_examples",
    # Only plot_*.py scripts are run; the others (dask_grid_search.py needs a
    # Dask cluster and an optional dependency) are shown without output.
    "filename_pattern": re.escape(os.sep) + "plot_",
    "within_subsection_order": "_gallery_order.ExampleOrder",
    # "Examples using X" on each API page (docs/_templates/autosummary/).
    "doc_module": ("skdeepad",),
    "backreferences_dir": "generated/backreferences",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "show_signature": False,
    # No sg_execution_times.rst: it would load scripts from a CDN.
    "write_computation_times": False,
    # A failing example fails the build (sphinx-build -W), never silently.
    "only_warn_on_example_error": False,
}

# -- Pages completed from the code ---------------------------------------------

#: Modules whose ``__all__`` makes up the API reference, with a section title.
API_MODULES = [
    ("skdeepad", "Detectors and utilities"),
    ("skdeepad.metrics", "Metrics and scorers"),
    ("skdeepad.datasets", "Datasets"),
    ("skdeepad.utils", "Label utilities"),
    ("skdeepad.networks", "Networks"),
    ("skdeepad.pretraining", "Pretraining backbones"),
    ("skdeepad.calibration", "Calibrated decisions (conformal p-values, FDR)"),
    ("skdeepad.ensemble", "Ensembles (stacked training)"),
    ("skdeepad.inspection", "Inspection (training curves, research diagnostics)"),
    ("skdeepad.callbacks", "Callbacks (hooks into the training loop)"),
    ("skdeepad.model_selection", "Model selection (stacked training)"),
]


def _write_if_changed(path, text):
    """Write ``text`` to ``path`` unless it already holds exactly that.

    Keeping the file's timestamp when nothing changed lets an incremental
    build skip the pages that include it.
    """
    path = Path(path)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _first_paragraph(doc):
    """The summary paragraph of a docstring, or an empty string."""
    doc = inspect.cleandoc(doc or "")
    return doc.split("\n\n", 1)[0].strip()


def _kind(obj):
    """Classify a public object for the API page and its stub template."""
    import torch
    from sklearn.base import BaseEstimator

    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return "exception"
        if issubclass(obj, BaseEstimator):
            return "estimator"
        if issubclass(obj, torch.nn.Module):
            return "module"
        return "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "function"
    return None  # constants such as __version__ are not documented on their own


_GROUPS = [
    # kind, rubric, stub template in docs/_templates/ (None: autosummary's
    # default for the object's type)
    ("estimator", "Estimators", "autosummary/estimator.rst"),
    ("class", "Classes", "autosummary/class.rst"),
    ("module", "Torch modules", "autosummary/class.rst"),
    ("function", "Functions", None),
    ("exception", "Exceptions", "autosummary/class.rst"),
]


def write_api_fragment():
    """Write ``_gen_api.rst``: an autosummary table per module and kind."""
    import importlib

    lines = [".. This file is written by docs/conf.py at every build; do not edit.", ""]
    for modname, title in API_MODULES:
        module = importlib.import_module(modname)
        public = getattr(module, "__all__", None)
        if public is None:
            raise RuntimeError(f"{modname} has no __all__; the API page is built from it.")
        by_kind = {}
        for name in public:
            kind = _kind(getattr(module, name))
            if kind is not None:
                by_kind.setdefault(kind, []).append(name)
        heading = f":mod:`{modname}`: {title}"
        lines += [heading, "-" * len(heading), "", f".. automodule:: {modname}",
                  "   :no-members:", "   :no-index:", "", f".. currentmodule:: {modname}", ""]
        for kind, rubric, template in _GROUPS:
            names = by_kind.get(kind)
            if not names:
                continue
            lines += [f".. rubric:: {rubric}", "", ".. autosummary::",
                      "   :toctree: generated/"]
            if template:
                lines.append(f"   :template: {template}")
            lines.append("")
            lines += [f"   {name}" for name in names]
            lines.append("")
    _write_if_changed(DOCS / "_gen_api.rst", "\n".join(lines))


#: Sections of the benchmarks page: a title and the file-name prefixes of the
#: result files it gathers (a file no prefix matches goes to "Other results").
BENCHMARK_GROUPS = [
    ("Deep SVDD, Deep SAD and the Deep SAD paper's baselines",
     ("odds_deepsad", "deepsad_", "odds_table2", "mnist_scenarios", "ssad_")),
    ("DROCC and DROCC-LF", ("drocc_",)),
    ("AMA", ("ama_",)),
    ("ADRA", ("adra_",)),
    ("Knowledge distillation", ("kd_",)),
    ("Stacked training", ("stacked_",)),
    ("Conformal thresholds", ("conformal",)),
    ("Speed against other libraries", ("speed",)),
]


def _benchmark_page(path):
    """The reStructuredText of one result file's page: its title, source and text."""
    text = path.read_text(encoding="utf-8")
    title = f"``{path.name}``"
    for line in text.splitlines():
        if line.startswith("# "):
            title = f"``{path.name}``: {line[2:].strip()}"
            break
    rel = path.relative_to(REPO).as_posix()
    source = ("written by hand after the runs, to read the tables beside it"
              if path.stem.endswith("_notes") else "written by the benchmark script "
              "named in it (a closing notes section, if any, by hand)")
    lines = [".. This file is written by docs/conf.py at every build; do not edit.", "",
             f".. _bench-{path.stem}:", "", title, "=" * len(title), "",
             f"Source: ``{rel}``, {source}. The file is shown as it is, in Markdown.", "",
             f".. literalinclude:: /../{rel}", "   :language: markdown", ""]
    # Figures the file refers to (Markdown images), or that share its name.
    figures = re.findall(r"!\[[^\]]*\]\(([^)\s]+\.png)\)", text)
    figures += [f"{path.stem}.png"]
    for name in dict.fromkeys(figures):
        figure = path.parent / name
        if figure.is_file():
            lines += [f".. figure:: /../{figure.relative_to(REPO).as_posix()}",
                      f"   :alt: {name}", "", f"   ``{name}``", ""]
    return "\n".join(lines)


def write_benchmarks_fragment():
    """Write one page per ``benchmarks/results/*.md`` and ``_gen_benchmarks.rst``.

    The pages go to ``docs/bench/<file stem>.rst`` (ignored by git; pages of
    result files that no longer exist are removed), each with the label
    ``bench-<file stem>``; the fragment lists them by :data:`BENCHMARK_GROUPS`.
    """
    results = sorted((REPO / "benchmarks" / "results").glob("*.md"))
    pages = DOCS / "bench"
    pages.mkdir(exist_ok=True)
    for stale in set(pages.glob("*.rst")) - {pages / f"{p.stem}.rst" for p in results}:
        stale.unlink()
    groups = {title: [] for title, _ in BENCHMARK_GROUPS}
    other = []
    for path in results:
        _write_if_changed(pages / f"{path.stem}.rst", _benchmark_page(path))
        group = next((title for title, prefixes in BENCHMARK_GROUPS
                      if path.stem.startswith(prefixes)), None)
        (groups[group] if group else other).append(path)
    lines = [".. This file is written by docs/conf.py at every build; do not edit.", ""]
    if not results:
        lines += ["No result file is in ``benchmarks/results/`` yet.", ""]
    for title, paths in [*groups.items(), ("Other results", other)]:
        if not paths:
            continue
        lines += [title, "~" * len(title), "", ".. toctree::", "   :maxdepth: 1", ""]
        lines += [f"   bench/{path.stem}" for path in paths]
        lines.append("")
    _write_if_changed(DOCS / "_gen_benchmarks.rst", "\n".join(lines))


write_api_fragment()
write_benchmarks_fragment()
autosummary_generate = sorted(p.name for p in DOCS.glob("*.rst"))


def _balanced_summaries():
    """Keep autosummary from cutting a summary inside an inline literal.

    autosummary takes the text up to the first ". " as an object's summary,
    even when that ". " lies inside ````...````, as in the valid first line
    ``Encoder ``in -> h_1 -> ... -> h_k`` without biases.`` of
    :class:`skdeepad.networks.MLP`; the cut leaves an unclosed literal and a
    docutils warning.  When a summary has an odd number of ``````
    markers, extend it sentence by sentence until they pair up.
    """
    import re

    from sphinx.ext import autosummary

    original = autosummary.extract_summary
    if getattr(original, "_skdeepad_balanced", False):
        return

    def extract_summary(doc, settings):
        summary = original(doc, settings)
        if summary.count("``") % 2 == 0:
            return summary
        stanza = []
        for line in doc:
            if line.strip():
                stanza.append(line.strip())
            elif stanza:
                break
        sentences = re.split(r"\.\s+", " ".join(stanza))
        for i in range(1, len(sentences) + 1):
            candidate = ". ".join(sentences[:i]).rstrip(".") + "."
            if candidate.count("``") % 2 == 0:
                return candidate
        return " ".join(stanza)

    extract_summary._skdeepad_balanced = True
    autosummary.extract_summary = extract_summary


_balanced_summaries()


def _skip_member(app, what, name, obj, skip, options):
    """Leave out the members that scikit-learn's metadata routing and
    ``set_output`` add.

    Their docstrings point at scikit-learn's own user guide, whose labels do
    not exist here.
    """
    inherited = ("get_metadata_routing", "set_output")
    if name in inherited or (name.startswith("set_") and name.endswith("_request")):
        return True
    # StackedSearchCV inherits GridSearchCV's delegating methods, whose
    # docstrings use scikit-learn's glossary; its own docstring lists them.
    qualname = getattr(getattr(obj, "fget", obj), "__qualname__", "")
    if qualname.startswith("BaseSearchCV."):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    return {"parallel_read_safe": True}

