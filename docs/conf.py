"""Sphinx configuration of the skdeepad documentation.

Build with (from the repository root)::

    sphinx-build -W -b html docs docs/_build/html

Three pages are completed at build time from the code and the repository, so
that nothing has to be edited by hand when the package grows:

* ``api.rst`` includes ``_gen_api.rst``, an autosummary listing of every
  public name in the ``__all__`` of :data:`API_MODULES`;
* ``benchmarks.rst`` includes ``_gen_benchmarks.rst``, one section per
  Markdown result file in ``benchmarks/results/``;
* ``examples.rst`` includes ``_gen_examples.rst``, one section per script in
  ``examples/``.

The ``_gen_*.rst`` fragments are written next to this file (an autosummary
``:toctree:`` is resolved relative to the file that holds the directive, so
the API fragment must sit beside ``api.rst``), are ignored by git
(``docs/.gitignore``) and are excluded as stand-alone documents.
"""

import ast
import inspect
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
]
# sphinx.ext.intersphinx is left out on purpose: it fetches inventories from
# the network, which the build must not need.

templates_path = ["_templates"]
exclude_patterns = ["_build", "_gen_*.rst", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"

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

html_theme = "alabaster"
html_title = f"skdeepad {release}"
html_theme_options = {
    "description": "Deep anomaly detection with a scikit-learn API",
    "fixed_sidebar": True,
    "show_relbars": True,
}
html_sidebars = {
    "**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]
}
html_static_path = []
html_show_sourcelink = False

# -- Pages completed from the code ---------------------------------------------

#: Modules whose ``__all__`` makes up the API reference, with a section title.
API_MODULES = [
    ("skdeepad", "Detectors and utilities"),
    ("skdeepad.metrics", "Metrics and scorers"),
    ("skdeepad.datasets", "Datasets"),
    ("skdeepad.utils", "Label utilities"),
    ("skdeepad.networks", "Networks"),
    ("skdeepad.calibration", "Calibrated decisions (conformal p-values, FDR)"),
    ("skdeepad.ensemble", "Ensembles (stacked training)"),
    ("skdeepad.inspection", "Inspection (training curves)"),
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


def write_benchmarks_fragment():
    """Write ``_gen_benchmarks.rst``: each ``benchmarks/results/*.md``, shown as is."""
    results = sorted((REPO / "benchmarks" / "results").glob("*.md"))
    lines = [".. This file is written by docs/conf.py at every build; do not edit.", ""]
    if not results:
        lines += ["No result file is in ``benchmarks/results/`` yet.", ""]
    for path in results:
        title = path.name
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                title = f"{line[2:].strip()} (``{path.name}``)"
                break
        rel = path.relative_to(REPO).as_posix()
        source = ("written by hand after the runs, to read the tables beside it"
                  if path.stem.endswith("_notes") else "written by the benchmark script "
                  "named in it (a closing notes section, if any, by hand)")
        lines += [title, "~" * len(title), "", f"Source: ``{rel}``, {source}.", "",
                  f".. literalinclude:: /../{rel}", "   :language: markdown", ""]
    _write_if_changed(DOCS / "_gen_benchmarks.rst", "\n".join(lines))


def write_examples_fragment():
    """Write ``_gen_examples.rst``: each ``examples/*.py`` with its docstring as text."""
    scripts = sorted((REPO / "examples").glob("*.py"))
    lines = [".. This file is written by docs/conf.py at every build; do not edit.", ""]
    for path in scripts:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or path.name
        rel = path.relative_to(REPO).as_posix()
        # The docstring is reStructuredText with a title (sphinx-gallery style);
        # its title is demoted below this page's title.
        doc_lines = doc.splitlines()
        if len(doc_lines) > 1 and set(doc_lines[1]) <= set("=-~") and doc_lines[1]:
            doc_lines[1] = "-" * len(doc_lines[0])
        else:
            doc_lines = [path.name, "-" * len(path.name), "", *doc_lines]
        lines += [*doc_lines, ""]
        # The figure, when the script has been run with its default output
        # (``plot_<name>.py`` writes ``<name>.png`` beside itself).
        figure = path.with_name(path.stem.removeprefix("plot_") + ".png")
        if figure.is_file():
            lines += [f".. image:: /../{figure.relative_to(REPO).as_posix()}",
                      f"   :alt: Figure made by {path.name}", ""]
        lines += [f"Source: ``{rel}``", "",
                  f".. literalinclude:: /../{rel}", "   :language: python", ""]
    if not scripts:
        lines += ["No example yet.", ""]
    _write_if_changed(DOCS / "_gen_examples.rst", "\n".join(lines))


write_api_fragment()
write_benchmarks_fragment()
write_examples_fragment()
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

