"""The package's layers, read from the source (``ast``: nothing is imported).

* :mod:`skdeepad.networks` holds torch modules only: it imports nothing from
  the estimators, their base class or their training loop;
* ``skdeepad/_train.py``, the training loop, imports no method module;
* no module of the package imports from ``benchmarks``.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "skdeepad"

#: Modules that :mod:`skdeepad.networks` must not import: the estimators,
#: their base and training loop, and the modules built on them.
ESTIMATOR_MODULES = (
    "skdeepad._deep_sad",
    "skdeepad._autoencoder",
    "skdeepad._drocc",
    "skdeepad._ama",
    "skdeepad._adra",
    "skdeepad._kd",
    "skdeepad._supervised",
    "skdeepad.calibration",
    "skdeepad.ensemble",
    "skdeepad.model_selection",
)
NOT_FROM_NETWORKS = ESTIMATOR_MODULES + (
    "skdeepad.base",
    "skdeepad._train",
    "skdeepad._stacked",
    "skdeepad._engine",
    "skdeepad.pretraining",
    "skdeepad.inspection",
)
NOT_FROM_TRAIN = ESTIMATOR_MODULES + (
    "skdeepad.base",
    "skdeepad._stacked",
    "skdeepad.classical",
    "skdeepad.pretraining",
    "skdeepad.inspection",
)


def _module_name(path, root):
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path, root=PACKAGE):
    """Absolute names of the modules ``path`` imports, wherever in the file.

    ``from a import b`` gives both ``a`` and ``a.b`` (``b`` may be a
    submodule); relative imports are resolved against the module's package;
    ``importlib.import_module("literal")`` counts as an import.  ``root`` is
    the package directory ``path`` lies in.
    """
    name = _module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))
    return found


def _violations(path, forbidden, root=PACKAGE):
    return sorted(m for m in imported_modules(path, root)
                  if any(m == f or m.startswith(f + ".") for f in forbidden))


NETWORK_FILES = sorted((PACKAGE / "networks").rglob("*.py"))


def test_the_checker_sees_every_kind_of_import(tmp_path):
    """Absolute, relative, nested and importlib imports are all found."""
    fake = tmp_path / "skdeepad" / "networks"
    fake.mkdir(parents=True)
    source = fake / "_fake.py"
    source.write_text(
        "import skdeepad.base\n"
        "from .. import _train\n"
        "from .._kd import KDStudentTeacher\n"
        "from ._mlp import MLP\n"
        "def f():\n"
        "    from ..ensemble import StackedEnsemble\n"
        "    importlib.import_module('benchmarks.speed')\n"
    )
    root = tmp_path / "skdeepad"
    assert _violations(source, NOT_FROM_NETWORKS, root) == [
        "skdeepad._kd", "skdeepad._kd.KDStudentTeacher", "skdeepad._train", "skdeepad.base",
        "skdeepad.ensemble", "skdeepad.ensemble.StackedEnsemble"]
    assert "skdeepad.networks._mlp" in imported_modules(source, root)
    assert "benchmarks.speed" in imported_modules(source, root)


@pytest.mark.parametrize("path", NETWORK_FILES, ids=lambda p: p.name)
def test_networks_import_no_estimator_or_training_loop(path):
    """skdeepad.networks sits below the estimators: torch modules only."""
    bad = _violations(path, NOT_FROM_NETWORKS)
    assert not bad, (
        f"skdeepad/networks/{path.relative_to(PACKAGE / 'networks')} imports {bad}; the "
        "networks package must not depend on the estimators, their base or training "
        "loop (put such code in skdeepad/, as pretraining.py does).")


def test_networks_package_is_checked():
    assert len(NETWORK_FILES) > 5 and PACKAGE.joinpath("networks", "__init__.py") in NETWORK_FILES


def test_training_loop_imports_no_method_module():
    path = PACKAGE / "_train.py"
    bad = _violations(path, NOT_FROM_TRAIN)
    assert not bad, f"skdeepad/_train.py imports {bad}; the training loop knows no method."


def test_package_does_not_import_benchmarks():
    """The benchmarks use the package, never the other way round."""
    offenders = {str(p.relative_to(PACKAGE.parent)): bad for p in sorted(PACKAGE.rglob("*.py"))
                 if (bad := _violations(p, ("benchmarks",)))}
    assert not offenders, f"modules of skdeepad import from benchmarks: {offenders}"
