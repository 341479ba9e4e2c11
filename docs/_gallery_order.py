"""The order of the example gallery (``within_subsection_order`` in conf.py).

A class in an importable module, not a function in conf.py: Sphinx pickles
its configuration, and sphinx-gallery instantiates the class with the
gallery's source folder.
"""

#: Example scripts in reading order; a script not listed goes last, by name.
ORDER = [
    "plot_labeled_anomalies.py",
    "plot_drocc_toy.py",
    "plot_ama_kd_digits.py",
    "plot_adra_tiny.py",
    "plot_ssad_hybrid.py",
    "plot_hybrid_grid_search.py",
    "plot_stacked_ensemble.py",
    "plot_conformal_thresholds.py",
    "dask_grid_search.py",
]


class ExampleOrder:
    """Sort key: the position of a script in :data:`ORDER`."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __repr__(self):
        return "ExampleOrder"

    def __call__(self, filename):
        name = filename.replace("\\", "/").rsplit("/", 1)[-1]
        return (ORDER.index(name), "") if name in ORDER else (len(ORDER), name)
