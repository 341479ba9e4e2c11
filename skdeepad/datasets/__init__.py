"""Benchmark data sets and semi-supervised anomaly detection scenarios.

Loaders read files from a data home (see :func:`get_data_home`) laid out as
``odds/<name>.mat``, ``adbench/<k>_<name>.npz``, ``uci/abalone.csv`` and
``mnist/t10k-*-ubyte.gz``. A missing file is downloaded from a public mirror
and kept only if its SHA-256 digest matches the package's registry; offline,
the loaders raise :class:`DataNotFoundError`, whose message says which file
to download from where and where to save it. A file in the data home that
cannot be read (or, with ``verify=True``, whose digest is wrong) raises
:class:`CorruptDataError`, whose message says how to replace it. :func:`make_bundled_tasks`
builds tasks from scikit-learn's bundled data sets and needs no file at all.
"""

from ._base import get_data_home
from ._bundled import make_bundled_tasks
from ._fetch import ChecksumError, CorruptDataError, DataNotFoundError
from ._corpus import make_outlier_corpus
from ._mnist import load_mnist_test
from ._scenarios import make_one_vs_rest_scenario
from ._semisupervised import make_semisupervised_split
from ._tabular import list_adbench, list_odds, load_abalone, load_adbench, load_odds
from ._tabular_protocols import (
    load_abalone_outliers,
    make_drocc_split,
    make_half_normal_split,
    make_noisy_sine,
    make_sine_manifold,
    make_sphere_manifold,
)

__all__ = [
    "ChecksumError",
    "CorruptDataError",
    "DataNotFoundError",
    "get_data_home",
    "list_adbench",
    "list_odds",
    "load_abalone",
    "load_adbench",
    "load_mnist_test",
    "load_odds",
    "make_bundled_tasks",
    "make_one_vs_rest_scenario",
    "make_outlier_corpus",
    "make_semisupervised_split",
    "load_abalone_outliers",
    "make_drocc_split",
    "make_half_normal_split",
    "make_noisy_sine",
    "make_sine_manifold",
    "make_sphere_manifold",
]
