"""Calibrated decisions: conformal p-values and false-discovery-rate control.

Every detector turns scores into labels through ``contamination``, a guess of
the share of anomalies that says nothing about how many flagged points are
false alarms.  :class:`ConformalDetector` replaces the guess by a guarantee:
the rank of a test point's score among the scores of held-out normal (or
unlabeled, mostly normal) calibration points is a p-value that is valid in
finite samples, and the Benjamini-Hochberg procedure on those p-values
controls the false discovery rate (Bates, Candès, Lei, Romano and Zrnic,
2023).  Read more in :ref:`the user guide <conformal>`.
"""

import math
import numbers
import warnings

import numpy as np
from scipy.stats import false_discovery_control
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing, check_random_state, get_tags, indexable
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._stacked import StackedFallbackWarning, fit_stacked
from .base import BaseDeepEstimator, _restored_on_failure
from .utils._labels import as_partial_labels, check_partial_labels

__all__ = ["ConformalDetector", "CalibrationWarning"]


class CalibrationWarning(UserWarning):
    """The calibration set is too small for the requested false discovery rate."""


def _indexable(X):
    """``X`` in a form :func:`~sklearn.utils._safe_indexing` takes, and its length."""
    X = indexable(X)[0]  # sparse as CSR, array-likes without indexing as arrays
    return X, X.shape[0] if hasattr(X, "shape") else len(X)


class ConformalDetector(OutlierMixin, BaseEstimator):
    """Conformal p-values and false-discovery-rate control for any detector.

    Fits ``estimator`` on part of the training data and scores the rest, the
    *calibration set*, which holds only unlabeled and known-normal rows.
    The p-value of a test point is the share of calibration scores at or
    below its own (higher ``score_samples`` = more normal):

    .. math:: p(x) = \\frac{1 + \\#\\{i \\in \\mathcal{C} : s(X_i) \\le s(x)\\}}{n_{cal} + 1}.

    If the test point is exchangeable with the calibration points (drawn
    from the same distribution, e.g. both normal), ``P(p(x) <= a) <= a`` for
    every ``a``, in finite samples and whatever the detector.  Small p-values
    are evidence of an anomaly.  :meth:`predict` flags the rows of ``X``
    that the Benjamini-Hochberg procedure (or Benjamini-Yekutieli's) rejects
    at level ``fdr``: among the flagged rows, the expected share of normal
    points is at most ``fdr`` (Bates et al., 2023, Theorem 3: p-values that
    share one calibration set are positively dependent (PRDS), under which
    BH is valid).  No ``contamination`` is needed.

    With ``cv=K`` (cross-conformal), every eligible row both trains and
    calibrates: the eligible rows are split into ``K`` folds, fold model
    ``k`` is trained on everything but fold ``k`` and calibrated on fold
    ``k``, and a test point's p-value pools its ranks over the folds,
    ``(1 + sum_k #{i in fold k : s_k(X_i) <= s_k(x)}) / (n_cal + 1)``
    (Vovk, 2015).  Its guarantee is weaker: in the worst case
    ``P(p <= a) <= 2a + 2 (1 - 1/K) / (n_cal / K + 1)`` (Barber et al.,
    2021, Theorem 4, CV+), and PRDS is not proven, so FDR control by BH is
    an empirical fact, measured in ``benchmarks/results/conformal.md``, not
    a theorem.  It pays off when data are scarce: no row is lost to
    calibration.  The ``K`` fold models of one of the package's deep
    detectors are trained as one stack (:func:`skdeepad.fit_stacked`): on
    the ODDS sets of the Deep SAD paper, ``cv=5`` with Deep SAD or Deep SVDD
    cost 2.0-2.3 times one split-conformal fit (3.3-3.6 on the tiny
    arrhythmia), and its realised FDR stayed within the level + 0.02 in 71
    of 72 cells over 10 splits, and in the 72nd over 50 (split conformal:
    72 of 72).

    Parameters
    ----------
    estimator : estimator, default=None
        The detector to calibrate (unfitted): any estimator with ``fit`` and
        ``score_samples`` (higher = more normal), e.g. every detector in the
        package, :class:`~sklearn.ensemble.IsolationForest`,
        :class:`~sklearn.svm.OneClassSVM` or
        :class:`~sklearn.neighbors.LocalOutlierFactor` with
        ``novelty=True``.  ``None`` means :class:`~skdeepad.DeepSAD` with its
        defaults.
    calibration_size : float in (0, 1) or int >= 1, default=0.2
        Split conformal (``cv=None``): the share (rounded up) or the number
        of the unlabeled and known-normal training rows held out to
        calibrate.  Ignored when ``cv`` is set.
    cv : int >= 2 or None, default=None
        ``None`` for split conformal; ``K`` for cross-conformal with ``K``
        folds.
    fdr : float in (0, 1) or None, default=0.1
        False discovery rate that :meth:`predict` controls.  ``None``:
        :meth:`predict` and :meth:`decision_function` are the wrapped
        detector's own (its ``contamination`` threshold); :meth:`p_values`
        is available either way.
    method : {"bh", "by"}, default="bh"
        Multiple-testing procedure, computed by
        :func:`scipy.stats.false_discovery_control`: Benjamini-Hochberg
        (valid under the positive dependence of split-conformal p-values) or
        Benjamini-Yekutieli (valid under any dependence, fewer discoveries).
    randomized : bool, default=False
        Break ties between a test score and calibration scores at random:
        ``p = (#{s_i < s} + U (1 + #{s_i == s})) / (n_cal + 1)`` with ``U``
        uniform on (0, 1).  The p-values of normal points are then exactly
        uniform instead of conservative.  It matters for detectors whose
        scores tie (e.g. a tree ensemble on duplicate rows); ``U`` is drawn
        from a seed fixed at ``fit``, so repeated calls agree.
    random_state : int, RandomState instance or None, default=None
        Draws the calibration rows (or the folds) and the tie-breaking seed.
        The wrapped estimator's own ``random_state`` is left as given.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted detector (split conformal: one) or the ``K`` fold models.
    calibration_scores_ : list of ndarray
        Per model, the sorted ``score_samples`` of its calibration rows.
    calibration_indices_ : list of ndarray
        Per model, the indices (into the training ``X``) of its calibration
        rows; none of them is labeled -1.
    n_calibration_ : int
        Number of calibration scores in all (the ``n_cal`` above).  The
        smallest p-value is ``1 / (n_calibration_ + 1)``.
    n_features_in_ : int
        Number of features seen in ``fit`` (when the wrapped detector has it).
    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features, when the wrapped detector records them.

    See Also
    --------
    skdeepad.ensemble.StackedEnsemble : Another meta-estimator over the detectors.
    sklearn.calibration.CalibratedClassifierCV : The analogue for classifiers.

    Notes
    -----
    **What is guaranteed, and for which points.**  The p-value is valid
    for a test point that is exchangeable with the calibration rows, so
    never score the training data with it: :meth:`fit_predict` on the
    training set, for example, computes p-values of points the model has
    seen and is not calibrated.  Known anomalies (``y == -1``) never enter
    the calibration set; they stay in the training data, where the
    semi-supervised detectors use them.

    **Preprocessing belongs inside.**  A scaler (or any step that learns
    from data) fitted on the whole training set has seen the calibration
    rows and not the test rows, so calibration rows look more normal than
    new normal points and the p-values come out too small.  Wrap the
    pipeline, ``ConformalDetector(make_pipeline(MinMaxScaler(), DeepSAD()))``,
    so that each model's preprocessing is fitted on its own training rows;
    the deep detector at the end of the pipeline is still stacked across
    folds.  On ODDS arrhythmia, min-max scaling fitted on all training rows
    let 3.4 % of the normal test points reach ``p <= 0.01`` with ``cv=5``
    (realised FDR 0.40 at ``fdr=0.1`` for OC-SVM); inside the pipeline, 0.8 %
    and 0.0.

    **Unlabeled, polluted calibration data.**  When the unlabeled rows hold
    some anomalies, those that score as anomalies take the lowest ranks, so
    normal test points get *larger* p-values than they should: the
    p-values stay valid (conservative) and the FDR stays controlled, at the
    price of fewer discoveries.  ``benchmarks/conformal.py`` measures it.

    **The family of tests is the rows of one call.**  Benjamini-Hochberg
    adjusts the p-values of all rows passed to :meth:`predict` together,
    so a row's label depends on the batch it is predicted in; the
    guarantee is for that batch.  :meth:`p_values` is per row.

    **Small calibration sets.**  No p-value is below
    ``1 / (n_calibration_ + 1)``, so with ``fdr < 1 / (n_calibration_ + 1)``
    nothing is ever flagged; :meth:`fit` warns
    (:class:`CalibrationWarning`) when that is the case.

    References
    ----------
    .. [1] Bates, S., Candès, E., Lei, L., Romano, Y., Zrnic, T. "Testing
       for outliers with conformal p-values." Annals of Statistics 51(1),
       2023.
    .. [2] Vovk, V. "Cross-conformal predictors." Annals of Mathematics and
       Artificial Intelligence 74, 2015.
    .. [3] Barber, R. F., Candès, E. J., Ramdas, A., Tibshirani, R. J.
       "Predictive inference with the jackknife+." Annals of Statistics
       49(1), 2021.
    .. [4] Benjamini, Y., Hochberg, Y. "Controlling the false discovery
       rate." JRSS B 57(1), 1995; Benjamini, Y., Yekutieli, D. "The
       control of the false discovery rate in multiple testing under
       dependency." Annals of Statistics 29(4), 2001.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skdeepad.calibration import ConformalDetector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(500, 2))
    >>> cd = ConformalDetector(IsolationForest(random_state=0), fdr=0.1,
    ...                        random_state=0).fit(X)
    >>> cd.n_calibration_
    100
    >>> X_test = np.vstack([rng.normal(size=(5, 2)), [[6.0, 6.0]]])
    >>> cd.predict(X_test)
    array([ 1,  1,  1,  1,  1, -1])
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "score_samples"]), None],
        "calibration_size": [Interval(numbers.Real, 0, 1, closed="neither"),
                             Interval(numbers.Integral, 1, None, closed="left")],
        "cv": [Interval(numbers.Integral, 2, None, closed="left"), None],
        "fdr": [Interval(numbers.Real, 0, 1, closed="neither"), None],
        "method": [StrOptions({"bh", "by"})],
        "randomized": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, calibration_size=0.2, cv=None, fdr=0.1,
                 method="bh", randomized=False, random_state=None):
        self.estimator = estimator
        self.calibration_size = calibration_size
        self.cv = cv
        self.fdr = fdr
        self.method = method
        self.randomized = randomized
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator if self.estimator is not None else _default_estimator())
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.non_deterministic = inner.non_deterministic
        return tags

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the detector (or the fold models) and score the calibration rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Training data, in any form the wrapped detector accepts.
        y : array-like of shape (n_samples,), default=None
            Partial labels (+1 known normal, -1 known anomaly, 0 unlabeled).
            Rows labeled -1 are never calibration rows; every label of the
            training rows is passed on to the wrapped detector (a detector
            that ignores ``y``, such as IsolationForest, trains on the
            known anomalies as on unlabeled rows).

        Returns
        -------
        self : object
            The fitted detector.

        Raises
        ------
        ValueError
            If the calibration set would be empty or leave no unlabeled or
            known-normal row to train on, or if ``y`` is not partial labels.
        """
        with _restored_on_failure(self):
            base = self.estimator if self.estimator is not None else _default_estimator()
            X, n = _indexable(X)
            labels = None if y is None else check_partial_labels(y, n)
            eligible = np.arange(n) if labels is None else np.flatnonzero(labels != -1)
            rng = check_random_state(self.random_state)
            folds = self._calibration_folds(eligible, n, rng)
            self._tie_seed = int(rng.randint(np.iinfo(np.int32).max))
            trains = [np.setdiff1d(np.arange(n), fold) for fold in folds]
            Xs = [_safe_indexing(X, rows) for rows in trains]
            ys = None if labels is None else [as_partial_labels(labels[rows]) for rows in trains]
            self.estimators_ = _fit_all([clone(base) for _ in folds], Xs, ys)
            self.calibration_indices_ = folds
            self.calibration_scores_ = [
                np.sort(self._scores(est, _safe_indexing(X, fold)))
                for est, fold in zip(self.estimators_, folds)]
            self.n_calibration_ = int(sum(len(fold) for fold in folds))
            for name in ("n_features_in_", "feature_names_in_"):
                if hasattr(self.estimators_[0], name):
                    setattr(self, name, getattr(self.estimators_[0], name))
                else:  # not left over from a previous fit
                    vars(self).pop(name, None)
            self._warn_if_cannot_reject()
            return self

    def _calibration_folds(self, eligible, n_samples, rng):
        """Indices of each model's calibration rows, drawn from ``eligible``."""
        n_eligible = len(eligible)
        what = (f"{n_eligible} unlabeled or known-normal rows of n_samples={n_samples} "
                "(rows labeled -1 never calibrate)")
        if self.cv is None:
            size = self.calibration_size
            n_cal = (size if isinstance(size, numbers.Integral)
                     else math.ceil(round(size * n_eligible, 9)))
            if not 1 <= n_cal < n_eligible:
                raise ValueError(
                    f"calibration_size={size!r} asks for {n_cal} calibration rows out of "
                    f"{what}; it must leave at least one to calibrate and one to train on. "
                    "Pass more data or another calibration_size.")
            return [np.sort(rng.choice(eligible, size=n_cal, replace=False))]
        fold_size = n_eligible // self.cv
        if fold_size < 1:
            raise ValueError(f"cv={self.cv} folds need at least {self.cv} of the {what}.")
        # Equal folds, so that the fold models train on equally many rows (one
        # stack); the n_eligible % cv rows left over train every fold model.
        permuted = rng.permutation(eligible)
        return [np.sort(permuted[k * fold_size:(k + 1) * fold_size]) for k in range(self.cv)]

    def _warn_if_cannot_reject(self):
        smallest = 1.0 / (self.n_calibration_ + 1)
        if self.fdr is not None and smallest > self.fdr:
            warnings.warn(
                f"With {self.n_calibration_} calibration rows the smallest p-value is "
                f"1/{self.n_calibration_ + 1} = {smallest:.3g}, above fdr={self.fdr}: predict "
                f"can never flag a point. Calibrate on at least {math.ceil(1 / self.fdr) - 1} "
                "rows (more data, a larger calibration_size, or cv), or raise fdr.",
                CalibrationWarning, stacklevel=4)

    @staticmethod
    def _scores(est, X):
        scores = np.asarray(est.score_samples(X), dtype=np.float64)
        if np.isnan(scores).any():
            raise ValueError(
                f"{type(est).__name__}.score_samples returned NaN for "
                f"{int(np.isnan(scores).sum())} of {len(scores)} rows; a NaN has no rank, "
                "so no p-value can be computed for it.")
        return scores

    # -------------------------------------------------------------- scoring
    def p_values(self, X):
        """Conformal p-values: small means anomalous.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Test samples, not seen in ``fit``.

        Returns
        -------
        p : ndarray of shape (n_samples,)
            Values in ``[1 / (n_calibration_ + 1), 1]``; for a test point
            exchangeable with the calibration rows, ``P(p <= a) <= a``
            (split conformal; see the class docstring for ``cv``).
        """
        check_is_fitted(self)
        at_or_below = below = 0
        for est, cal in zip(self.estimators_, self.calibration_scores_):
            s = self._scores(est, X)
            at_or_below = at_or_below + np.searchsorted(cal, s, side="right")
            below = below + np.searchsorted(cal, s, side="left")
        if not self.randomized:
            return (1.0 + at_or_below) / (self.n_calibration_ + 1)
        u = np.random.default_rng(self._tie_seed).uniform(size=np.shape(at_or_below))
        return (below + u * (1.0 + at_or_below - below)) / (self.n_calibration_ + 1)

    def adjusted_p_values(self, X):
        """The p-values of the rows of ``X`` adjusted for multiple testing.

        Benjamini-Hochberg's (or Benjamini-Yekutieli's, ``method="by"``)
        adjusted p-values, from :func:`scipy.stats.false_discovery_control`:
        the rows with an adjusted p-value ``<= q`` are those the procedure
        rejects at false discovery rate ``q``.  The rows of ``X`` form one
        family of tests.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Test samples.

        Returns
        -------
        p_adjusted : ndarray of shape (n_samples,)
        """
        return false_discovery_control(self.p_values(X), method=self.method)

    def score_samples(self, X):
        """The wrapped detector's scores: the higher, the more normal.

        With ``cv``, the mean of the fold models' scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Samples to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return np.mean([self._scores(est, X) for est in self.estimators_], axis=0)

    def decision_function(self, X):
        """Negative for the rows that :meth:`predict` flags, positive for the others.

        With ``fdr`` set: the adjusted p-value minus ``fdr`` (rejected rows
        have an adjusted p-value ``<= fdr``; the comparison is shifted by one
        float step so that they are strictly negative).  With
        ``fdr=None``: the wrapped detector's ``decision_function`` (with
        ``cv``, the mean over the fold models).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Test samples; with ``fdr`` set they form one family of tests.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        if self.fdr is None:
            return np.mean([np.asarray(est.decision_function(X), dtype=np.float64)
                            for est in self.estimators_], axis=0)
        return self.adjusted_p_values(X) - np.nextafter(self.fdr, 1.0)

    def predict(self, X):
        """-1 for the rows rejected at false discovery rate ``fdr``, +1 otherwise.

        With ``fdr=None``, the wrapped detector's own ``predict`` (with
        ``cv``, the sign of the fold models' mean ``decision_function``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Test samples; with ``fdr`` set they form one family of tests, and
            among the rows flagged -1 the expected share of normal points is
            at most ``fdr``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            +1 (inlier) or -1 (outlier), as int.
        """
        check_is_fitted(self)
        if self.fdr is None and len(self.estimators_) == 1:
            return np.asarray(self.estimators_[0].predict(X)).astype(int)
        return np.where(self.decision_function(X) >= 0, 1, -1)


def _default_estimator():
    from ._deep_sad import DeepSAD

    return DeepSAD()


def _fit_all(models, Xs, ys):
    """Fit ``models[k]`` on ``Xs[k]`` (and ``ys[k]``).

    The package's deep detectors train as one stack, also as the last step of
    a :class:`~sklearn.pipeline.Pipeline` (each fold's preprocessing is then
    fitted on that fold's rows first); any other estimator is fitted one
    after another.
    """
    pipelines = isinstance(models[0], Pipeline)
    final = [m[-1] for m in models] if pipelines else models
    if not isinstance(final[0], BaseDeepEstimator):
        for k, model in enumerate(models):
            if ys is None:
                model.fit(Xs[k])
            else:
                model.fit(Xs[k], ys[k])
        return models
    if pipelines:  # slices share their steps: this fits each pipeline's own transformers
        Xs = [m[:-1].fit_transform(X_k, None if ys is None else ys[k])
              for k, (m, X_k) in enumerate(zip(models, Xs))]
    with warnings.catch_warnings():
        # Not stacking (an image CNN, DROCC, ...) changes nothing but speed.
        warnings.simplefilter("ignore", StackedFallbackWarning)
        fit_stacked(final, Xs, ys, per_estimator=True)
    return models
