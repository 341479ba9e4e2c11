"""Ensembles of deep detectors trained as one stack (:func:`skdeepad.fit_stacked`)."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._stacked import StackedFallbackWarning, fit_stacked
from .base import ThresholdMixin, _restored_on_failure

__all__ = ["StackedEnsemble", "StackedFallbackWarning"]


class StackedEnsemble(ThresholdMixin, OutlierMixin, BaseEstimator):
    """Seed ensemble of one deep detector, its members trained as one stack.

    ``n_members`` clones of ``estimator``, each with its own
    ``random_state`` (drawn from this ensemble's ``random_state``), are
    fitted together with :func:`skdeepad.fit_stacked`: one training loop
    whose cost grows far slower than ``n_members`` separate fits for the
    package's tabular networks.  Seed ensembles are the simplest cure for
    the seed-to-seed spread of Deep SVDD and Deep SAD.

    Scores are combined as the mean of the members' *standardised* scores:
    member ``k``'s ``score_samples`` minus the mean of its scores on the
    training samples not labeled as anomalies, divided by their standard
    deviation.  Members' raw scores live on different scales (each has its
    own centre and network), so an average of raw scores would be dominated
    by whichever member happens to spread its scores widest.

    Read more in the :ref:`User Guide <conventions>`.

    Parameters
    ----------
    estimator : estimator, default=None
        The detector to replicate (unfitted; its ``random_state`` is
        overridden per member).  ``None`` means :class:`~skdeepad.DeepSAD`
        with its defaults.
    n_members : int, default=10
        Number of members.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected fraction of outliers, which sets ``offset_`` on the
        ensemble's training scores; ``"auto"`` flags 10 % of the training
        data (the members' own thresholds are not used).
    random_state : int, RandomState instance or None, default=None
        Draws the members' seeds.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members, ordinary fitted instances of ``estimator``'s class.
    member_seeds_ : ndarray of shape (n_members,)
        The ``random_state`` given to each member.
    score_mean_, score_std_ : ndarray of shape (n_members,)
        Mean and standard deviation of each member's training scores, used
        to standardise its scores.
    offset_ : float
        Threshold: ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features, when ``X`` has string column names.

    See Also
    --------
    skdeepad.fit_stacked : Fit any list of same-shaped estimators as one stack.
    sklearn.ensemble.IsolationForest : A classical ensemble detector.

    Notes
    -----
    Members are fitted on the same data (no bootstrap): their diversity
    comes only from their seeds (initial weights and batch order), as in
    the "deep ensembles" of Lakshminarayanan et al. (2017).  Estimators
    that cannot be stacked are fitted one after another, with a warning.

    References
    ----------
    .. [1] Lakshminarayanan, B., Pritzel, A., Blundell, C. "Simple and
       Scalable Predictive Uncertainty Estimation using Deep Ensembles."
       NeurIPS 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import DeepSVDD
    >>> from skdeepad.ensemble import StackedEnsemble
    >>> X = np.random.RandomState(0).rand(200, 5)
    >>> det = StackedEnsemble(DeepSVDD(epochs=3, pretrain_epochs=3, device="cpu"),
    ...                       n_members=4, random_state=0).fit(X)
    >>> det.predict([[0.5, 0.5, 0.5, 0.5, 0.5], [9, 9, 9, 9, 9]])
    array([ 1, -1])
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "score_samples"]), None],
        "n_members": [Interval(numbers.Integral, 1, None, closed="left")],
        "contamination": [StrOptions({"auto"}), Interval(numbers.Real, 0, 0.5, closed="right")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, n_members=10, contamination="auto", random_state=None):
        self.estimator = estimator
        self.n_members = n_members
        self.contamination = contamination
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit ``n_members`` seeds of ``estimator`` as one stack.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Training data.
        y : array-like of shape (n_samples,), default=None
            Partial labels (+1 known normal, -1 known anomaly, 0 unlabeled),
            passed to every member.

        Returns
        -------
        self : object
            The fitted ensemble.
        """
        with _restored_on_failure(self):
            if self.estimator is None:
                from ._deep_sad import DeepSAD

                base = DeepSAD()
            else:
                base = self.estimator
            rng = check_random_state(self.random_state)
            self.member_seeds_ = rng.randint(np.iinfo(np.int32).max, size=self.n_members)
            members = [clone(base).set_params(random_state=int(s)) for s in self.member_seeds_]
            self.estimators_ = fit_stacked(members, X, y)
            first = self.estimators_[0]
            self.n_features_in_ = first.n_features_in_
            if hasattr(first, "feature_names_in_"):
                self.feature_names_in_ = first.feature_names_in_
            raw = self._member_scores(X)
            train = slice(None)
            if y is not None and hasattr(first, "_validate_y"):
                not_anomalous = first._validate_y(y, raw.shape[1]) != -1
                if not_anomalous.any():
                    train = not_anomalous
            self.score_mean_ = raw[:, train].mean(axis=1)
            std = raw[:, train].std(axis=1)
            # A member whose training scores are all equal carries no ranking.
            self.score_std_ = np.where(std > 0, std, 1.0)
            self.offset_ = self._offset_from(self._combine(raw)[train])
            return self

    def _member_scores(self, X):
        """``(n_members, n_samples)`` raw scores; X validated and moved to the device once."""
        first = self.estimators_[0]
        if hasattr(first, "_score_tensor"):
            X_t = first._to_tensor(first._validate_X(X, reset=False))
            return np.stack([m._score_tensor(X_t).double().cpu().numpy()
                             for m in self.estimators_])
        return np.stack([m.score_samples(X) for m in self.estimators_])

    def _combine(self, raw):
        return ((raw - self.score_mean_[:, None]) / self.score_std_[:, None]).mean(axis=0)

    def score_samples(self, X):
        """Mean of the members' standardised scores: the higher, the more normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Samples to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``mean_k (score_k(X) - score_mean_[k]) / score_std_[k]``.
        """
        check_is_fitted(self)
        return self._combine(self._member_scores(X))
