"""Label-aware metrics and scorers for partially labeled anomaly detection.

Labels follow the package convention: ``+1`` known normal, ``-1`` known
anomaly, ``0`` unlabeled.  Every metric here treats the anomalies (``-1``) as
the positive class and, by default, counts the unlabeled samples (``0``) as
normal, so model selection (``GridSearchCV``, ``cross_val_score``) works on the
same partially labeled ``y`` that ``fit`` takes.  That is the Deep SAD
paper's assumption (the unlabeled data are mostly normal) and the case of
:func:`~skdeepad.datasets.make_semisupervised_split`, which labels anomalies
only: a metric over the labeled samples alone would find one class in every
fold.  With ``unlabeled="ignore"`` only the labeled samples (``y != 0``) are
evaluated, for data with labeled normals (``+1``) in every fold.  Scores
follow scikit-learn's outlier detectors: the higher ``decision_function`` or
``score_samples``, the more normal; the metrics flip the sign themselves.

Two metrics reproduce the F1 scores that anomaly detection papers report on
tabular benchmarks, with the labels of the package's loaders instead (``1``
anomaly, ``0`` normal, every test sample labeled):
:func:`drocc_f1_score`, the DROCC authors' normal-class F1 (with
:func:`~skdeepad.datasets.make_drocc_split`), and
:func:`anomaly_ratio_f1_score`, the anomaly-class F1 of DAGMM and GOAD (with
:func:`~skdeepad.datasets.make_half_normal_split`).
"""

import numbers

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, make_scorer, roc_auc_score, roc_curve
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import column_or_1d

from .utils._labels import check_partial_labels

__all__ = [
    "anomaly_ratio_f1_score",
    "drocc_f1_score",
    "labeled_average_precision",
    "labeled_average_precision_score",
    "labeled_f1_score",
    "labeled_recall_at_fpr",
    "labeled_roc_auc",
    "labeled_roc_auc_score",
    "make_labeled_scorer",
]


def _labeled(y_true, values, unlabeled):
    """Rows to evaluate: ``(is_anomaly, values)``, checked for both classes."""
    values = column_or_1d(values)
    y_true = check_partial_labels(y_true, len(values), allow_only_anomalies=True)
    keep = y_true != 0 if unlabeled == "ignore" else np.ones(len(y_true), dtype=bool)
    is_anomaly = y_true[keep] == -1
    n_anomalies = int(is_anomaly.sum())
    n_normals = len(is_anomaly) - n_anomalies
    if n_anomalies == 0 or n_normals == 0:
        what = "labeled samples (y != 0)" if unlabeled == "ignore" else "samples"
        raise ValueError(
            f"The {what} of this split hold {n_anomalies} known anomalies (-1) and "
            f"{n_normals} normals (+1{'' if unlabeled == 'ignore' else ' or 0'}); the "
            "metric needs both. Use more folds' worth of labels (e.g. a stratified "
            "split on y), or unlabeled='normal' to count unlabeled samples as normal."
        )
    return is_anomaly, values[keep]


_COMMON = {
    "y_true": ["array-like"],
    "unlabeled": [StrOptions({"ignore", "normal"})],
}


@validate_params({**_COMMON, "y_score": ["array-like"]}, prefer_skip_nested_validation=True)
def labeled_roc_auc_score(y_true, y_score, *, unlabeled="normal"):
    """ROC AUC of detecting the known anomalies among the other samples.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Partial labels: +1 known normal, -1 known anomaly, 0 unlabeled.
    y_score : array-like of shape (n_samples,)
        Normality scores (``decision_function`` or ``score_samples``: higher
        means more normal).
    unlabeled : {"normal", "ignore"}, default="normal"
        Count unlabeled samples as normal (the Deep SAD paper's assumption,
        and what the package's split gives: only anomalies are labeled), or
        leave them out (needs labeled normals, +1, in every fold).

    Returns
    -------
    auc : float
        Area under the ROC curve with the anomalies as the positive class.

    Examples
    --------
    >>> from skdeepad.metrics import labeled_roc_auc_score
    >>> labeled_roc_auc_score([0, 0, -1, 0], [2.0, 1.0, -1.0, -5.0])
    0.666...
    >>> labeled_roc_auc_score([1, 1, -1, 0], [2.0, 1.0, -1.0, -5.0], unlabeled="ignore")
    1.0
    """
    is_anomaly, y_score = _labeled(y_true, y_score, unlabeled)
    return float(roc_auc_score(is_anomaly, -y_score))


@validate_params({**_COMMON, "y_score": ["array-like"]}, prefer_skip_nested_validation=True)
def labeled_average_precision_score(y_true, y_score, *, unlabeled="normal"):
    """Average precision of detecting the known anomalies among the other samples.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Partial labels: +1 known normal, -1 known anomaly, 0 unlabeled.
    y_score : array-like of shape (n_samples,)
        Normality scores (higher means more normal).
    unlabeled : {"normal", "ignore"}, default="normal"
        Count unlabeled samples as normal (the Deep SAD paper's assumption,
        and what the package's split gives: only anomalies are labeled), or
        leave them out (needs labeled normals, +1, in every fold).

    Returns
    -------
    average_precision : float

    Examples
    --------
    >>> from skdeepad.metrics import labeled_average_precision_score
    >>> labeled_average_precision_score([1, -1, 1, 0], [1.0, 3.0, 2.0, 0.0])
    0.25
    """
    is_anomaly, y_score = _labeled(y_true, y_score, unlabeled)
    return float(average_precision_score(is_anomaly, -y_score))


@validate_params({**_COMMON, "y_pred": ["array-like"]}, prefer_skip_nested_validation=True)
def labeled_f1_score(y_true, y_pred, *, unlabeled="normal"):
    """F1 of the anomaly class at the detector's threshold (its ``predict``).

    ``predict`` flags the ``contamination`` fraction set by ``offset_``, so
    this is the F1 at the contamination threshold.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Partial labels: +1 known normal, -1 known anomaly, 0 unlabeled.
    y_pred : array-like of shape (n_samples,)
        Predictions, +1 inlier and -1 outlier.
    unlabeled : {"normal", "ignore"}, default="normal"
        Count unlabeled samples as normal (the Deep SAD paper's assumption,
        and what the package's split gives: only anomalies are labeled), or
        leave them out (needs labeled normals, +1, in every fold).

    Returns
    -------
    f1 : float

    Examples
    --------
    >>> from skdeepad.metrics import labeled_f1_score
    >>> labeled_f1_score([1, -1, -1, 0], [1, -1, 1, -1])
    0.5
    """
    is_anomaly, y_pred = _labeled(y_true, y_pred, unlabeled)
    return float(f1_score(is_anomaly, np.asarray(y_pred) == -1))


@validate_params(
    {**_COMMON, "y_score": ["array-like"], "fpr": [Interval(numbers.Real, 0, 1, closed="both")]},
    prefer_skip_nested_validation=True,
)
def labeled_recall_at_fpr(y_true, y_score, *, fpr=0.05, unlabeled="normal"):
    """Share of known anomalies caught while at most ``fpr`` of the normals are flagged.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Partial labels: +1 known normal, -1 known anomaly, 0 unlabeled.
    y_score : array-like of shape (n_samples,)
        Normality scores (higher means more normal).
    fpr : float in [0, 1], default=0.05
        Largest false-positive rate allowed among the normal samples.
    unlabeled : {"normal", "ignore"}, default="normal"
        Count unlabeled samples as normal (the Deep SAD paper's assumption,
        and what the package's split gives: only anomalies are labeled), or
        leave them out (needs labeled normals, +1, in every fold).

    Returns
    -------
    recall : float
        The best true-positive rate on the ROC curve with FPR <= ``fpr``.

    Examples
    --------
    >>> from skdeepad.metrics import labeled_recall_at_fpr
    >>> labeled_recall_at_fpr([1, 1, 1, -1, -1], [3, 2, 1, 2.5, 0], fpr=0.0)
    0.5
    """
    is_anomaly, y_score = _labeled(y_true, y_score, unlabeled)
    fprs, tprs, _ = roc_curve(is_anomaly, -y_score)
    return float(tprs[fprs <= fpr].max())


_METRICS = {
    "roc_auc": (labeled_roc_auc_score, "decision_function"),
    "average_precision": (labeled_average_precision_score, "decision_function"),
    "f1": (labeled_f1_score, "predict"),
    "recall_at_fpr": (labeled_recall_at_fpr, "decision_function"),
}


def make_labeled_scorer(metric, **kwargs):
    """A scorer for ``GridSearchCV``/``cross_val_score`` on partially labeled ``y``.

    Parameters
    ----------
    metric : {"roc_auc", "average_precision", "f1", "recall_at_fpr"}
        ``"f1"`` uses ``predict`` (the contamination threshold); the others
        ``decision_function``.
    **kwargs
        Passed to the metric: ``unlabeled`` ("ignore" or "normal"), and
        ``fpr`` for ``"recall_at_fpr"``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``; greater is better.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skdeepad import DeepSAD
    >>> from skdeepad.metrics import make_labeled_scorer
    >>> search = GridSearchCV(DeepSAD(), {"eta": [0.5, 1.0, 2.0]},
    ...                       scoring=make_labeled_scorer("recall_at_fpr", fpr=0.01))
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}; got {metric!r}.")
    function, response = _METRICS[metric]
    return make_scorer(function, response_method=response, **kwargs)


#: ROC AUC of the known anomalies (-1, positive) against the rest (+1 and 0).
labeled_roc_auc = make_labeled_scorer("roc_auc")
#: Average precision of the known anomalies (-1, positive) against the rest (+1 and 0).
labeled_average_precision = make_labeled_scorer("average_precision")


# ---------------------------------------------- F1 protocols of the papers
def _check_scores(y_true, scores):
    """``(y_true, scores)`` as int64 0/1 labels and finite float64 scores."""
    y_true = column_or_1d(y_true)
    scores = column_or_1d(scores).astype(np.float64)
    if len(y_true) != len(scores):
        raise ValueError(f"y_true has {len(y_true)} labels but there are {len(scores)} scores.")
    if not np.all(np.isin(y_true, (0, 1))):
        raise ValueError(
            f"y_true must hold 1 (anomaly) and 0 (normal); got {np.unique(y_true)[:10].tolist()}."
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("The scores contain NaN or infinite values.")
    return y_true.astype(np.int64), scores


@validate_params(
    {"y_true": ["array-like"], "scores": ["array-like"],
     "percentile": [Interval(numbers.Real, 0, 100, closed="neither")]},
    prefer_skip_nested_validation=True,
)
def drocc_f1_score(y_true, scores, *, percentile=20.0):
    """F1 of the *normal* class with "normal" above a percentile of the test scores.

    The metric of the DROCC authors' code (``drocc_trainer.py``): the
    threshold is the ``percentile``-th percentile of all test scores,
    samples scoring at or above it are predicted normal, and F1 is computed
    with the normal class as the positive one.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 anomaly, 0 normal.
    scores : array-like of shape (n_samples,)
        Normality scores (higher = more normal, as ``score_samples``).
    percentile : float in (0, 100), default=20
        Percentile of the test scores below which samples are called anomalous.

    Returns
    -------
    f1 : float

    Examples
    --------
    >>> from skdeepad.metrics import drocc_f1_score
    >>> drocc_f1_score([0, 0, 0, 0, 1], [5, 4, 3, 2, 1])
    1.0
    """
    y_true, scores = _check_scores(y_true, scores)
    predicted_normal = scores >= np.percentile(scores, percentile)
    return float(f1_score(y_true == 0, predicted_normal))


@validate_params(
    {"y_true": ["array-like"], "scores": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def anomaly_ratio_f1_score(y_true, scores):
    """F1 of the *anomaly* class, flagging as many samples as there are anomalies.

    The metric of DAGMM and GOAD: with ``k`` anomalies among the test
    samples, the ``k`` lowest-scoring samples are predicted anomalous (the
    threshold is the anomaly ratio's percentile), and F1 is that of the
    anomaly class.  Precision, recall and F1 then coincide.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 anomaly, 0 normal.
    scores : array-like of shape (n_samples,)
        Normality scores (higher = more normal).

    Returns
    -------
    f1 : float

    Examples
    --------
    >>> from skdeepad.metrics import anomaly_ratio_f1_score
    >>> anomaly_ratio_f1_score([0, 0, 0, 1, 1], [5, 4, 1, 3, 0])
    0.5
    """
    y_true, scores = _check_scores(y_true, scores)
    k = int(y_true.sum())
    flagged = np.zeros(len(scores), dtype=bool)
    flagged[np.argsort(scores, kind="stable")[:k]] = True
    return float(f1_score(y_true == 1, flagged))
