"""scikit-learn's estimator checks over every deep detector."""

from unittest import SkipTest

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks
import torch
from torch import nn

from skdeepad import (
    ADRA,
    AMA,
    AutoEncoder,
    AutoEncoderFeatures,
    DeepBinaryClassifier,
    DeepSAD,
    DeepSVDD,
    DROCC,
    DROCCLF,
    KDStudentTeacher,
    KernelDensityDetector,
    SSAD,
)
from skdeepad.calibration import ConformalDetector
from skdeepad.ensemble import StackedEnsemble
from sklearn.ensemble import IsolationForest

# The cheapest settings that still run every part of a fit: one epoch, in two
# batches of the 300 rows the outlier checks train on, of a 4-2 MLP.  A fit is
# then ~10-30 ms, mostly fixed overhead, and the checks fit over a thousand times.
FAST = dict(epochs=1, batch_size=128, device="cpu", random_state=0)
MLP = {**FAST, "hidden_layer_sizes": (4, 2)}
# Deep SVDD / SAD: one pretraining epoch of the autoencoder.
SVDD = {**MLP, "pretrain_epochs": 1}

# These checks pass arbitrary integer targets (0, 1, 2, ...) as y.  Our y is
# partial anomaly labels restricted to +1/-1/0 and anything else is rejected
# by design, so they fail on the estimators themselves; their content is run
# in full on the y-ignoring variants below.
_ARBITRARY_Y = (
    "check_fit_score_takes_y",
    "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self",
    "check_readonly_memmap_input",
    "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit",
    "check_estimators_dtypes",
    "check_dtype_object",
    "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_fit2d_1feature",
    "check_dict_unchanged",
    "check_fit2d_predict1d",
    "check_classifier_data_not_an_array",
    # These pass make_blobs' y in {0, 1}: the way ground truth is written
    # (1 = anomaly), which fit refuses rather than read as known normals.
    "check_estimators_nan_inf",
    "check_estimators_pickle",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_n_features_in",
    "check_pipeline_consistency",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
)
_FLOAT32 = {
    "check_methods_subset_invariance": (
        "scores are computed in float32; a row's score can differ in the last "
        "bits (~1e-7 relative) with the size of the batch it is scored in "
        "(BLAS blocking), while the check demands rtol=1e-7"
    ),
}
# SSAD accepts sparse input and reports n_iter_, so these checks also reach
# its label validation with arbitrary y.
_ARBITRARY_Y_SSAD = (
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag",
    "check_non_transformer_estimators_n_iter",
    "check_fit2d_1sample",
)
_REASON = ("the check passes y values outside +1/-1/0, or 0/1 labels that read as "
           "ground truth (1 = anomaly), which are rejected by design")


# The twins: subclasses whose fit ignores the checks' y (or puts a fixed
# labeling in its place), so that the checks rejected above for their y still
# run in full.  One class per detector, registered here under its name
# (Unlabeled<Detector>) so that pickle finds it and the test ids read as before.
_TWINS = {}


def unlabeled(cls, labels=None):
    """The subclass of ``cls`` whose ``fit(X, y)`` is ``fit(X)``, or ``fit(X, labels(n))``.

    Made once per class: a second call returns the first one's twin.
    """
    if cls in _TWINS:
        return _TWINS[cls]

    def fit(self, X, y=None):
        if labels is None:
            return super(twin, self).fit(X)
        n = X.shape[0] if hasattr(X, "shape") else len(np.asarray(X))
        return super(twin, self).fit(X, labels(n))

    doc = "ignores y" if labels is None else "replaces y by a fixed labeling"
    twin = type(f"Unlabeled{cls.__name__}", (cls,), {
        "fit": fit, "__module__": __name__, "__doc__": f"{cls.__name__} that {doc}."})
    globals()[twin.__name__] = _TWINS[cls] = twin
    return twin


def _every_fifth(n):
    """Every 5th row a labeled anomaly (y == -1), the rest unlabeled."""
    return np.where(np.arange(n) % 5 == 0, -1, 0)


def _every_fifth_from_ten(n):
    """ADRA's corpus: every 5th row y == -1, once there are 10 rows."""
    return np.where((np.arange(n) % 5 == 0) & (n >= 10), -1, 0)



def _tiny_cnn(seed=0):
    """A small CNN that reads a table's rows as 1 x 1 x d images (ADRA's backbone).

    Its weights are drawn from a fixed seed: the backbone stays frozen, so an
    unseeded one would make every run of the checks a different detector.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Unflatten(1, (1, 1, -1)),
                             nn.Conv2d(1, 3, 3, padding=1, bias=False),
                             nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten())


# A narrow MLP teacher and a small head keep the KD checks fast.
_KD_FAST = {**FAST, "hidden_layer_sizes": (4,), "head_dim": 2, "lr": 1e-3}


# One warm-up epoch, then one epoch of a one-step adversarial search.
_DROCC_FAST = {**MLP, "epochs": 2, "only_ce_epochs": 1, "ascent_num_steps": 1}


# One critic step per iteration; synthetic negatives from the first epoch.  AMA
# keeps its default (32-16-4) networks: with 4-2 ones a row's decision_function
# changes in the 6th digit with the order of the rows scored together (float32
# rounding, as _FLOAT32 says), which check_methods_sample_order_invariance sees.
_AMA_FAST = {**FAST, "n_critic": 1, "neg_start_epoch": 0}


# A BH decision is about the rows of one call, and make_blobs has no outlier.
_CONFORMAL = {
    "check_outliers_train": (
        "the training blobs hold no outlier and Benjamini-Hochberg rightly flags none, "
        "while the check demands both labels; decision_function is an adjusted p-value "
        "minus fdr, not a translation of score_samples"),
    "check_outliers_fit_predict": (
        "the blobs hold no outlier and Benjamini-Hochberg rightly flags none, while the "
        "check demands both labels"),
    "check_methods_subset_invariance": (
        "Benjamini-Hochberg adjusts the p-values of the rows passed together, so a row's "
        "decision depends on its batch by design (p_values and score_samples do not)"),
}


def _estimators():
    yield SSAD()
    yield unlabeled(SSAD)()
    yield SSAD(kernel="linear", eta_u=0.5)
    # The classifier keeps its default network: its "auto" threshold (a predicted
    # anomaly probability of 1/2) flags every row of the outlier checks after one
    # epoch of the 4-2 one on their arbitrary labeling, and they demand both labels.
    yield DeepBinaryClassifier(**FAST)
    yield unlabeled(DeepBinaryClassifier, _every_fifth)(**FAST)
    yield AutoEncoderFeatures(**MLP)
    yield unlabeled(AutoEncoderFeatures)(**MLP)
    yield ADRA(backbone=_tiny_cnn(), lr=0.01, **FAST)
    # With a corpus, contamination="auto" is the HSC boundary p = 1/2, which a
    # 1-epoch fit on blobs need not reach (test_adra checks it on a trained
    # model); a fixed fraction keeps both classes in the checks' predictions.
    yield unlabeled(ADRA, _every_fifth_from_ten)(
        backbone=_tiny_cnn(), lr=0.01, contamination=0.1, **FAST)
    # A two-fold search over two bandwidths (the default is 5 folds over 10).
    yield KernelDensityDetector(bandwidths=(1.0, 4.0), cv=2)
    yield unlabeled(KernelDensityDetector)(bandwidths=(1.0, 4.0), cv=2)
    for cls, extra in [
        (AutoEncoder, MLP),
        (DeepSVDD, SVDD),
        (DeepSVDD, {**SVDD, "objective": "soft-boundary"}),
        (DeepSAD, SVDD),
        (AMA, _AMA_FAST),
        (DROCC, _DROCC_FAST),
        (DROCCLF, _DROCC_FAST),
        (KDStudentTeacher, _KD_FAST),
        (KDStudentTeacher, {**_KD_FAST, "teacher_pretrain": "autoencoder", "pretrain_epochs": 1}),
    ]:
        yield cls(**extra)
        yield unlabeled(cls)(**extra)
    # Two Deep SVDD seeds trained as one stack (skdeepad.fit_stacked).
    yield StackedEnsemble(DeepSVDD(**SVDD), n_members=2, random_state=0)
    yield unlabeled(StackedEnsemble)(DeepSVDD(**SVDD), n_members=2, random_state=0)
    # Conformal calibration of a scikit-learn detector, and cross-conformal of a stack.
    yield ConformalDetector(IsolationForest(n_estimators=5, random_state=0), random_state=0)
    yield unlabeled(ConformalDetector)(IsolationForest(n_estimators=5, random_state=0),
                                       random_state=0)
    yield unlabeled(ConformalDetector)(DeepSVDD(**SVDD), cv=2, random_state=0)


# The supervised baseline cannot fit without labeled anomalies, and these
# checks call fit(X) without y; the twin with a fixed labeling runs them.
_NO_Y = (
    "check_pipeline_consistency",
    "check_estimators_nan_inf",
    "check_outliers_fit_predict",
    "check_outliers_train",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
)


def _expected_failed_checks(estimator):
    float64 = isinstance(estimator, (KernelDensityDetector, SSAD))
    float32 = {} if float64 else _FLOAT32
    if isinstance(estimator, ADRA):
        float32 = {**float32, "check_estimators_overwrite_params": (
            "ADRA's backbone parameter is a torch module, and joblib.hash of a tensor "
            "changes under copy.deepcopy, which the check compares against; that fit "
            "leaves the backbone untouched is tested in tests/test_adra.py")}
    if isinstance(estimator, ConformalDetector):
        float32 = {**float32, **_CONFORMAL}
    if type(estimator) in _TWINS.values():
        return dict(float32)
    expected = {**{name: _REASON for name in _ARBITRARY_Y}, **float32}
    if isinstance(estimator, ConformalDetector):  # wrapping IsolationForest, which takes sparse X
        expected.update({name: _REASON for name in (
            "check_estimators_empty_data_messages", "check_estimator_sparse_tag",
            "check_estimator_sparse_array", "check_estimator_sparse_matrix",
            "check_fit2d_1sample")})
    if isinstance(estimator, SSAD):
        expected.update({name: _REASON for name in _ARBITRARY_Y_SSAD})
    if isinstance(estimator, DeepBinaryClassifier):
        expected.update({name: "fits without y, but the classifier needs labeled "
                               "anomalies (y == -1)" for name in _NO_Y})
        # The pickle check's y (make_blobs, 0/1) is valid partial labels, which
        # the other estimators accept, but it holds no anomaly for the classifier.
        expected["check_estimators_pickle"] = "the check's y has no labeled anomaly (y == -1)"
    return expected


@parametrize_with_checks(list(_estimators()), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check, request):
    """Every scikit-learn estimator check passes (expected failures justified above)."""
    if request.node.get_closest_marker("xfail") is None or request.config.option.runxfail:
        check(estimator)
        return
    # An expected failure.  Its report would format the traceback in long style,
    # re-parsing scikit-learn's 5,000-line estimator_checks.py for every frame
    # (about half a second per check, most of this file's time) only for pytest
    # to discard it; a one-line failure keeps the outcome (xfailed, or XPASS when
    # the check passes) at none of that cost.  --runxfail shows the full traceback.
    try:
        check(estimator)
    except SkipTest:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure is the expected one
        failure = f"{type(exc).__name__}: {exc}"
    else:
        return
    pytest.fail(failure, pytrace=False)
