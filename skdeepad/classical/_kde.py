"""Kernel density estimation as an outlier detector."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..base import ThresholdMixin, check_not_all_constant
from ..utils._labels import check_partial_labels

__all__ = ["KernelDensityDetector"]


#: The Deep SAD paper's bandwidth grid (Appendix E): 2^0.5, 2^1, ..., 2^5.
DEFAULT_BANDWIDTHS = tuple(2.0 ** np.arange(0.5, 5.01, 0.5))


class KernelDensityDetector(ThresholdMixin, OutlierMixin, BaseEstimator):
    """Outlier detector scoring samples by their kernel density estimate.

    ``score_samples`` is the log-density of a Gaussian (or other) kernel
    density estimate fitted on the training data, so it is higher for more
    normal samples.  With ``bandwidth="cv"`` (default) the bandwidth is chosen
    by ``cv``-fold cross-validated log-likelihood over ``bandwidths``, as the
    Deep SAD paper does for its KDE baseline (Appendix E, following Ruff et
    al., 2018): no label and no test data are used for the choice.

    Parameters
    ----------
    bandwidth : "cv" or float > 0, default="cv"
        Kernel bandwidth, or ``"cv"`` to select it from ``bandwidths``.
    bandwidths : sequence of float, default=None
        Candidates for ``bandwidth="cv"``; ``None`` means the paper's grid
        2^0.5, 2^1, ..., 2^5.
    kernel : {"gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine"}, \
default="gaussian"
        Kernel of :class:`sklearn.neighbors.KernelDensity`.
    cv : int, default=5
        Folds of the bandwidth search.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected fraction of outliers, which sets ``offset_``; ``"auto"``
        flags 10 % of the training data (a density has no natural threshold).
    n_jobs : int, default=None
        Parallel jobs of the bandwidth search.

    Attributes
    ----------
    kde_ : sklearn.neighbors.KernelDensity
        The fitted density estimate.
    bandwidth_ : float
        The bandwidth used.
    cv_scores_ : ndarray of shape (n_bandwidths,)
        Mean held-out log-likelihood of each candidate (``bandwidth="cv"`` only).
    offset_ : float
        Threshold: ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    sklearn.neighbors.KernelDensity : The density estimator used.
    sklearn.ensemble.IsolationForest : Another shallow baseline.

    Notes
    -----
    Samples labeled ``-1`` (known anomalies) in ``y`` are left out of the
    density; ``+1`` and ``0`` are used alike.

    References
    ----------
    .. [1] Ruff, L., et al. "Deep Semi-Supervised Anomaly Detection." ICLR
       2020, Appendix E.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import KernelDensityDetector
    >>> X = np.random.RandomState(0).randn(200, 2)
    >>> det = KernelDensityDetector().fit(X)
    >>> det.predict([[0.0, 0.0], [8.0, 8.0]])
    array([ 1, -1])
    """

    _parameter_constraints: dict = {
        "bandwidth": [StrOptions({"cv"}), Interval(numbers.Real, 0, None, closed="neither")],
        "bandwidths": ["array-like", None],
        "kernel": [StrOptions({"gaussian", "tophat", "epanechnikov", "exponential",
                               "linear", "cosine"})],
        "cv": [Interval(numbers.Integral, 2, None, closed="left")],
        "contamination": [StrOptions({"auto"}), Interval(numbers.Real, 0, 0.5, closed="right")],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(self, *, bandwidth="cv", bandwidths=None, kernel="gaussian", cv=5,
                 contamination="auto", n_jobs=None):
        self.bandwidth = bandwidth
        self.bandwidths = bandwidths
        self.kernel = kernel
        self.cv = cv
        self.contamination = contamination
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the density on the normal and unlabeled samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Optional partial labels (+1 / -1 / 0); rows labeled -1 are dropped.

        Returns
        -------
        self : object
            The fitted detector.

        Raises
        ------
        ValueError
            If all samples of ``X`` are identical (as the deep detectors).
        """
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        check_not_all_constant(X)
        X = X[check_partial_labels(y, len(X)) != -1]
        if self.bandwidth == "cv":
            grid = DEFAULT_BANDWIDTHS if self.bandwidths is None else tuple(self.bandwidths)
            if len(X) < self.cv:
                raise ValueError(
                    f"bandwidth='cv' with cv={self.cv} needs at least {self.cv} training "
                    f"samples; got {len(X)}. Give a float bandwidth or fewer folds."
                )
            search = GridSearchCV(KernelDensity(kernel=self.kernel), {"bandwidth": grid},
                                  cv=self.cv, n_jobs=self.n_jobs).fit(X)
            self.cv_scores_ = search.cv_results_["mean_test_score"]
            self.bandwidth_ = float(search.best_params_["bandwidth"])
        else:
            self.bandwidth_ = float(self.bandwidth)
        self.kde_ = KernelDensity(kernel=self.kernel, bandwidth=self.bandwidth_).fit(X)
        self.offset_ = self._offset_from(self.kde_.score_samples(X))
        return self

    def score_samples(self, X):
        """Log-density of each sample (higher = more normal).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.kde_.score_samples(validate_data(self, X, dtype=np.float64, reset=False))
