"""Classical (non-deep) anomaly detectors with scikit-learn's API."""

from ._kde import KernelDensityDetector
from ._ssad import SSAD

__all__ = ["KernelDensityDetector", "SSAD"]
