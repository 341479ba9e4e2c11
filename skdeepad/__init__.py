"""skdeepad: scikit-learn compatible deep anomaly detection on PyTorch."""

from ._adra import ADRA
from ._ama import AMA
from ._autoencoder import AutoEncoder, AutoEncoderFeatures
from ._deep_sad import DeepSAD, DeepSVDD
from ._drocc import DROCC, DROCCLF
from ._kd import KDStudentTeacher
from ._supervised import DeepBinaryClassifier
from .classical import SSAD, KernelDensityDetector
from .utils._show_versions import show_versions
from ._stacked import fit_stacked
from . import calibration, ensemble, model_selection  # skdeepad.calibration, ...

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
    "show_versions",
    "fit_stacked",
    "__version__",
]
