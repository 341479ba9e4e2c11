"""Model selection with stacked training (:func:`skdeepad.fit_stacked`).

:class:`StackedSearchCV` replaces ``GridSearchCV.fit`` only: the scorers, the
``cv_results_`` and the choice of the best candidate are those of its
scikit-learn parent class, whose per-fit records it fills with scikit-learn's
own helpers (``sklearn.model_selection._validation``), so that both report
failed fits and scores the same way.
"""

import numbers
import time
from collections import defaultdict
from traceback import format_exc

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, ParameterGrid, check_cv

# The records of GridSearchCV's fits, in the format of its (private)
# _format_results, which this class calls as its parent does: scikit-learn
# offers no public way to build them.
from sklearn.model_selection._validation import (
    _insert_error_scores,
    _score,
    _warn_or_raise_about_fit_failures,
)

# _safe_indexing is "semi-private": re-exported by sklearn.utils and listed in
# scikit-learn's public API reference despite its name.
from sklearn.utils import _safe_indexing, get_tags, indexable

from ._stacked import fit_stacked, structure_key

__all__ = ["StackedSearchCV"]


class StackedSearchCV(GridSearchCV):
    """Exhaustive grid search whose candidates are trained as stacks.

    The interface, the ``cv_results_`` and the fitted attributes are those of
    :class:`sklearn.model_selection.GridSearchCV`; only the training differs.
    Within each cross-validation split, all candidates whose parameters do
    not change the networks' shapes or the training loop (``lr``, ``eta``,
    ``weight_decay``, ``nu``, ``random_state``, ``sampling``,
    ``contamination``, ...) are fitted together by
    :func:`skdeepad.fit_stacked`; candidates that differ in such a parameter
    (``hidden_layer_sizes``, ``batch_size``, ``epochs``, ``pretrain``, ...)
    form separate stacks.  Each candidate's fit equals its lone fit (see
    :func:`~skdeepad.fit_stacked`), so the scores are those ``GridSearchCV``
    computes.

    Read more in the :ref:`User Guide <conventions>`.

    Parameters
    ----------
    estimator : estimator
        A deep detector of this package (any estimator works, but only those
        :func:`~skdeepad.fit_stacked` can stack are faster than with
        ``GridSearchCV``).
    param_grid : dict or list of dicts
        Parameter names mapped to lists of values, as for ``GridSearchCV``.
    scoring : str, callable, list, tuple or dict, default=None
        As for ``GridSearchCV``; the label-aware scorers of
        :mod:`skdeepad.metrics` evaluate partially labeled folds.
    n_jobs : int, default=None
        Stacks (one per split and group of stackable candidates) fitted in
        parallel.
    refit : bool, str or callable, default=True
        Refit the best candidate on the whole data, as for ``GridSearchCV``.
    cv : int, cross-validation generator or iterable, default=None
        Splitting strategy, as for ``GridSearchCV`` (5-fold ``KFold`` by default).
    verbose : int, default=0
        Print a line per fitted stack when > 0.
    pre_dispatch : int or str, default="2*n_jobs"
        As for ``GridSearchCV``.
    error_score : "raise" or numeric, default=np.nan
        Score of a candidate whose fit fails.  When a stack fails, its
        candidates are refitted one by one so that only the failing ones
        get ``error_score``.
    return_train_score : bool, default=False
        Also score each candidate on its training split.

    Attributes
    ----------
    cv_results_ : dict of ndarray
        As for ``GridSearchCV``.  ``mean_fit_time`` of a stacked candidate
        is its stack's fitting time divided by the stack's size.
    best_estimator_ : estimator
        The best candidate refitted on the whole data (if ``refit``).
    best_score_ : float
        Mean cross-validated score of the best candidate.
    best_params_ : dict
        Parameters of the best candidate.
    best_index_ : int
        Index of the best candidate in ``cv_results_``.
    scorer_ : function or dict
        The scorer(s) used.
    n_splits_ : int
        Number of cross-validation splits.
    refit_time_ : float
        Seconds spent refitting the best candidate.
    multimetric_ : bool
        Whether several scorers were used.
    n_stacks_ : int
        Number of stacks fitted per split.

    See Also
    --------
    sklearn.model_selection.GridSearchCV : The same search, one fit per candidate.
    skdeepad.fit_stacked : The stacked fit itself.

    Notes
    -----
    ``fit`` takes no fit parameters (``**params``) and no ``groups``;
    splitters that need groups can be given as an iterable of splits.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import DeepSAD
    >>> from skdeepad.metrics import labeled_roc_auc
    >>> from skdeepad.model_selection import StackedSearchCV
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.rand(200, 5), rng.rand(20, 5) + 1.5]
    >>> y = np.r_[np.ones(200), -np.ones(20)]
    >>> from sklearn.model_selection import StratifiedKFold
    >>> grid = {"eta": [0.5, 2.0], "lr": [1e-4, 1e-3], "hidden_layer_sizes": [(16, 4), (8, 4)]}
    >>> search = StackedSearchCV(
    ...     DeepSAD(epochs=3, pretrain_epochs=3, device="cpu", random_state=0), grid,
    ...     cv=StratifiedKFold(3), scoring=labeled_roc_auc).fit(X, y)
    >>> search.n_stacks_  # 8 candidates: one stack per hidden_layer_sizes
    2
    >>> sorted(search.best_params_)
    ['eta', 'hidden_layer_sizes', 'lr']
    """

    def fit(self, X, y=None, **params):
        """Fit every candidate on every split (stacked), then refit the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Partial labels (+1 known normal, -1 known anomaly, 0 unlabeled).
        **params : dict
            Not supported; must be empty.

        Returns
        -------
        self : object
            The fitted search.
        """
        if params:
            raise ValueError(
                f"StackedSearchCV.fit takes no fit parameters; got {sorted(params)}."
            )
        self._validate_params()
        scorers, refit_metric = self._get_scorers()
        # Several metrics: _get_scorers bundles them into one multimetric
        # scorer whose ``_scorers`` dict names them (as in GridSearchCV.fit).
        multimetric = not (callable(self.scoring) or self.scoring is None
                           or isinstance(self.scoring, str))
        metric_names = list(scorers._scorers) if multimetric else None
        X, y = indexable(X, y)
        cv = check_cv(self.cv, y, classifier=False)
        self.n_splits_ = cv.get_n_splits(X, y)
        splits = list(cv.split(X, y))
        if len(splits) != self.n_splits_:
            raise ValueError(
                f"cv.split and cv.get_n_splits return inconsistent results. Expected "
                f"{self.n_splits_} splits, got {len(splits)}"
            )
        base = clone(self.estimator)
        candidates = list(ParameterGrid(self.param_grid))
        if not candidates:
            raise ValueError("No fits were performed: the parameter grid is empty.")
        stacks = defaultdict(list)
        for index, parameters in enumerate(candidates):
            candidate = clone(base).set_params(**clone(parameters, safe=False))
            stacks[structure_key(candidate)].append(index)
        self.n_stacks_ = len(stacks)
        if self.verbose > 0:
            print(f"Fitting {self.n_splits_} folds for each of {len(candidates)} candidates "
                  f"in {self.n_stacks_} stack(s) per fold")
        jobs = Parallel(n_jobs=self.n_jobs, pre_dispatch=self.pre_dispatch)(
            delayed(_fit_and_score_stack)(
                base, X, y, train, test, [candidates[i] for i in members], scorers,
                metric_names, self.return_train_score, self.error_score, self.verbose)
            for train, test in splits for members in stacks.values())
        out = [None] * (len(candidates) * self.n_splits_)
        jobs = iter(jobs)
        for split_idx in range(self.n_splits_):
            for members in stacks.values():
                for index, result in zip(members, next(jobs)):
                    out[index * self.n_splits_ + split_idx] = result
        _warn_or_raise_about_fit_failures(out, self.error_score)
        if callable(self.scoring):
            _insert_error_scores(out, self.error_score)
        results = self._format_results(candidates, self.n_splits_, out)
        _raise_if_every_score_is_nan(results, refit_metric)
        self.multimetric_ = isinstance(out[0]["test_scores"], dict)
        if callable(self.scoring) and self.multimetric_:
            self._check_refit_for_multimetric(out[0]["test_scores"])
            refit_metric = self.refit
        if self.refit or not self.multimetric_:
            self.best_index_ = self._select_best_index(self.refit, refit_metric, results)
            if not callable(self.refit):
                self.best_score_ = results[f"mean_test_{refit_metric}"][self.best_index_]
            self.best_params_ = results["params"][self.best_index_]
        if self.refit:
            self.best_estimator_ = clone(base).set_params(**clone(self.best_params_, safe=False))
            tic = time.time()
            if y is None:
                self.best_estimator_.fit(X)
            else:
                self.best_estimator_.fit(X, y)
            self.refit_time_ = time.time() - tic
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_
        self.scorer_ = scorers._scorers if multimetric else scorers
        self.cv_results_ = results
        return self


def _raise_if_every_score_is_nan(results, metric):
    """A search in which no candidate got a score chose nothing: say so and why."""
    key = f"mean_test_{metric}"
    if key in results and np.all(np.isnan(results[key])):
        raise ValueError(
            "Every candidate scored NaN on every fold, so the search cannot choose one "
            "(the warnings above give the scorer's error). With partial labels this "
            "usually means the validation folds hold no known anomaly (-1), or that the "
            "scorer ignores the unlabeled rows while no normal is labeled (+1): split "
            "with StratifiedKFold on y, and use skdeepad.metrics' scorers with their "
            "default unlabeled='normal'.")


def _split(estimator, X, y, indices, train_indices=None):
    """Rows ``indices`` of ``X`` and ``y``, as scikit-learn's cross-validation takes them.

    For an estimator on a precomputed kernel (the ``pairwise`` tag, e.g.
    ``SSAD(kernel="precomputed")``) the columns are taken too: those of
    ``train_indices``, or of ``indices`` when it is None (the training block).
    """
    if get_tags(estimator).input_tags.pairwise:
        if not hasattr(X, "shape"):
            raise ValueError("Precomputed kernels or affinity matrices have to be passed "
                             "as arrays or sparse matrices.")
        if X.shape[0] != X.shape[1]:
            raise ValueError("X should be a square kernel matrix")
        columns = indices if train_indices is None else train_indices
        X_subset = X[np.ix_(indices, columns)]
    else:
        X_subset = _safe_indexing(X, indices)
    return X_subset, None if y is None else _safe_indexing(y, indices)


def _fit_and_score_stack(base, X, y, train, test, candidates, scorer, metric_names,
                         return_train_score, error_score, verbose):
    """Fit one stack of candidates on ``train`` and score each on ``test``.

    ``metric_names`` lists the metrics of a multimetric ``scorer`` (None for
    one metric).  Returns one result dict per candidate, in the format of
    :func:`sklearn.model_selection._validation._fit_and_score`.
    """
    estimators = [clone(base).set_params(**clone(p, safe=False)) for p in candidates]
    X_train, y_train = _split(base, X, y, train)
    X_test, y_test = _split(base, X, y, test, train)
    tic = time.time()
    try:
        fit_stacked(estimators, X_train, y_train)
        fit_times = [(time.time() - tic) / len(estimators)] * len(estimators)
        errors = [None] * len(estimators)
    except Exception:
        if error_score == "raise" and len(estimators) == 1:
            raise
        errors = None
    if errors is None:
        # Refit one by one, so that only the failing candidates get error_score.
        estimators = [clone(base).set_params(**clone(p, safe=False)) for p in candidates]
        fit_times, errors = [], []
        for est in estimators:
            tic = time.time()
            try:
                est.fit(X_train) if y_train is None else est.fit(X_train, y_train)
            except Exception:
                if error_score == "raise":
                    raise
                errors.append(format_exc())
            else:
                errors.append(None)
            fit_times.append(time.time() - tic)
    if verbose > 0:
        print(f"[StackedSearchCV] fitted a stack of {len(estimators)} in "
              f"{sum(fit_times):.2f} s")
    results = []
    for est, fit_time, error in zip(estimators, fit_times, errors):
        result = {"fit_error": error}
        tic = time.time()
        if error is None:
            test_scores = _score(est, X_test, y_test, scorer, None, error_score)
            score_time = time.time() - tic
            if return_train_score:
                result["train_scores"] = _score(est, X_train, y_train, scorer, None, error_score)
        else:
            score_time = 0.0
            if isinstance(error_score, numbers.Number) and metric_names is not None:
                test_scores = {name: error_score for name in metric_names}
            else:
                test_scores = error_score
            if return_train_score:
                result["train_scores"] = (test_scores.copy() if isinstance(test_scores, dict)
                                          else test_scores)
        n_test = X_test.shape[0] if hasattr(X_test, "shape") else len(X_test)  # list
        result.update(test_scores=test_scores, n_test_samples=n_test,
                      fit_time=fit_time, score_time=score_time)
        results.append(result)
    return results
