"""skdeepad: scikit-learn compatible deep anomaly detection on PyTorch.

The public names are imported on first use (:pep:`562`), so that
``import skdeepad`` -- and ``python -m skdeepad --help``, which runs this file
first -- does not pay for importing PyTorch and scikit-learn until an
estimator, a function or a submodule is asked for.  ``from skdeepad import
DeepSAD``, ``skdeepad.DeepSAD`` and ``skdeepad.calibration`` work as if
everything had been imported eagerly.
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0.dev0"

__all__ = [
    "ADRA",
    "AMA",
    "AutoEncoder",
    "AutoEncoderFeatures",
    "DeepBinaryClassifier",
    "DeepSAD",
    "DeepSVDD",
    "DROCC",
    "DROCCLF",
    "KDStudentTeacher",
    "KernelDensityDetector",
    "SSAD",
    "StackedEnsemble",
    "ConformalDetector",
    "plot_history",
    "show_versions",
    "fit_stacked",
    "__version__",
]

#: Public name -> the module (relative to this package) that defines it.
_LAZY_NAMES = {
    "ADRA": "._adra",
    "AMA": "._ama",
    "AutoEncoder": "._autoencoder",
    "AutoEncoderFeatures": "._autoencoder",
    "DeepBinaryClassifier": "._supervised",
    "DeepSAD": "._deep_sad",
    "DeepSVDD": "._deep_sad",
    "DROCC": "._drocc",
    "DROCCLF": "._drocc",
    "KDStudentTeacher": "._kd",
    "KernelDensityDetector": ".classical",
    "SSAD": ".classical",
    "StackedEnsemble": ".ensemble",
    "ConformalDetector": ".calibration",
    "plot_history": ".inspection",
    "show_versions": ".utils._show_versions",
    "fit_stacked": "._stacked",
}

#: Public submodules, reachable as attributes (``skdeepad.calibration``).
_SUBMODULES = frozenset({
    "base",
    "calibration",
    "callbacks",
    "classical",
    "datasets",
    "ensemble",
    "inspection",
    "metrics",
    "model_selection",
    "networks",
    "pretraining",
    "utils",
})


def __getattr__(name):
    """Import a public name or submodule the first time it is asked for."""
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)


if TYPE_CHECKING:  # static analysers and IDEs see the eager imports
    from . import calibration, ensemble, model_selection, pretraining  # noqa: F401
    from ._adra import ADRA  # noqa: F401
    from ._ama import AMA  # noqa: F401
    from ._autoencoder import AutoEncoder, AutoEncoderFeatures  # noqa: F401
    from ._deep_sad import DeepSAD, DeepSVDD  # noqa: F401
    from ._drocc import DROCC, DROCCLF  # noqa: F401
    from ._kd import KDStudentTeacher  # noqa: F401
    from ._stacked import fit_stacked  # noqa: F401
    from ._supervised import DeepBinaryClassifier  # noqa: F401
    from .classical import SSAD, KernelDensityDetector  # noqa: F401
    from .calibration import ConformalDetector  # noqa: F401
    from .ensemble import StackedEnsemble  # noqa: F401
    from .inspection import plot_history  # noqa: F401
    from .utils._show_versions import show_versions  # noqa: F401
