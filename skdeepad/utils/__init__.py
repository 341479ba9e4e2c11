"""Label utilities: the partial-label convention of ``fit``.

:func:`to_partial_labels` turns ground truth written 1 = anomaly (scikit-learn,
ODDS, ADBench, the package's loaders) into the partial labels ``fit`` takes
(+1 known normal, -1 known anomaly, 0 unlabeled); :func:`as_partial_labels`
marks labels that already follow that convention but hold no -1.
"""

from ._labels import PartialLabels, as_partial_labels, to_partial_labels

__all__ = ["PartialLabels", "as_partial_labels", "to_partial_labels"]
