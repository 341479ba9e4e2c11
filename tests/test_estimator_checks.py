"""scikit-learn's estimator checks over every deep detector."""

import numpy as np
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

FAST = dict(epochs=2, batch_size=64, device="cpu", random_state=0)

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


class UnlabeledAutoEncoder(AutoEncoder):
    """AutoEncoder that ignores y, to run the checks that pass arbitrary y."""

    def fit(self, X, y=None):
        return super().fit(X)


class UnlabeledDeepSVDD(DeepSVDD):
    """DeepSVDD that ignores y."""

    def fit(self, X, y=None):
        return super().fit(X)


class UnlabeledDeepSAD(DeepSAD):
    """DeepSAD that ignores y."""

    def fit(self, X, y=None):
        return super().fit(X)


class UnlabeledKernelDensityDetector(KernelDensityDetector):
    """KernelDensityDetector that ignores y."""

    def fit(self, X, y=None):
        return super().fit(X)


class UnlabeledAutoEncoderFeatures(AutoEncoderFeatures):
    """AutoEncoderFeatures that ignores y."""

    def fit(self, X, y=None):
        return super().fit(X)


class UnlabeledDeepBinaryClassifier(DeepBinaryClassifier):
    """DeepBinaryClassifier that replaces y by a fixed labeling (every 5th row -1)."""

    def fit(self, X, y=None):
        n = X.shape[0] if hasattr(X, "shape") else len(np.asarray(X))
        return super().fit(X, np.where(np.arange(n) % 5 == 0, -1, 0))


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


class UnlabeledADRA(ADRA):
    """ADRA with a fixed labeling: every 5th row is corpus (y == -1) from 10 rows on."""

    def fit(self, X, y=None):
        n = X.shape[0] if hasattr(X, "shape") else len(np.asarray(X))
        return super().fit(X, np.where((np.arange(n) % 5 == 0) & (n >= 10), -1, 0))


class UnlabeledSSAD(SSAD):
    """SSAD that ignores y."""

    def fit(self, X, y=None):
        return super().fit(X)


class UnlabeledKDStudentTeacher(KDStudentTeacher):
    """KDStudentTeacher that ignores y."""

    def fit(self, X, y=None):
        return super().fit(X)


# A narrow MLP teacher and a small head keep the KD checks fast.
_KD_FAST = {"hidden_layer_sizes": (16, 16), "head_dim": 8, "lr": 1e-3}


class UnlabeledDROCC(DROCC):
    """DROCC that ignores y."""

    def fit(self, X, y=None):
        return super().fit(X)


class UnlabeledDROCCLF(DROCCLF):
    """DROCCLF that ignores y."""

    def fit(self, X, y=None):
        return super().fit(X)


# One warm-up epoch, then a short adversarial search.
_DROCC_FAST = {"only_ce_epochs": 1, "ascent_num_steps": 2}


class UnlabeledAMA(AMA):
    """AMA that ignores y."""

    def fit(self, X, y=None):
        return super().fit(X)


# One critic step per iteration; synthetic negatives from the first epoch.
_AMA_FAST = {"n_critic": 1, "neg_start_epoch": 0}


class UnlabeledStackedEnsemble(StackedEnsemble):
    """StackedEnsemble that ignores y."""

    def fit(self, X, y=None):
        return super().fit(X)


class UnlabeledConformalDetector(ConformalDetector):
    """ConformalDetector that ignores y."""

    def fit(self, X, y=None):
        return super().fit(X)


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
    yield UnlabeledSSAD()
    yield SSAD(kernel="linear", eta_u=0.5)
    yield DeepBinaryClassifier(**FAST)
    yield UnlabeledDeepBinaryClassifier(**FAST)
    yield AutoEncoderFeatures(**FAST)
    yield UnlabeledAutoEncoderFeatures(**FAST)
    yield ADRA(backbone=_tiny_cnn(), lr=0.01, **FAST)
    # With a corpus, contamination="auto" is the HSC boundary p = 1/2, which a
    # 2-epoch fit on blobs need not reach (test_adra checks it on a trained
    # model); a fixed fraction keeps both classes in the checks' predictions.
    yield UnlabeledADRA(backbone=_tiny_cnn(), lr=0.01, contamination=0.1, **FAST)
    yield KernelDensityDetector()
    yield UnlabeledKernelDensityDetector()
    for cls, unlabeled, extra in [
        (AutoEncoder, UnlabeledAutoEncoder, {}),
        (DeepSVDD, UnlabeledDeepSVDD, {"pretrain_epochs": 1}),
        (DeepSVDD, UnlabeledDeepSVDD, {"pretrain_epochs": 1, "objective": "soft-boundary"}),
        (DeepSAD, UnlabeledDeepSAD, {"pretrain_epochs": 1}),
        (AMA, UnlabeledAMA, _AMA_FAST),
        (DROCC, UnlabeledDROCC, _DROCC_FAST),
        (DROCCLF, UnlabeledDROCCLF, _DROCC_FAST),
        (KDStudentTeacher, UnlabeledKDStudentTeacher, _KD_FAST),
        (KDStudentTeacher, UnlabeledKDStudentTeacher,
         {**_KD_FAST, "teacher_pretrain": "autoencoder", "pretrain_epochs": 1}),
    ]:
        yield cls(**FAST, **extra)
        yield unlabeled(**FAST, **extra)
    # Two Deep SVDD seeds trained as one stack (skdeepad.fit_stacked).
    yield StackedEnsemble(DeepSVDD(**FAST, pretrain_epochs=1), n_members=2, random_state=0)
    yield UnlabeledStackedEnsemble(DeepSVDD(**FAST, pretrain_epochs=1), n_members=2,
                                   random_state=0)
    # Conformal calibration of a scikit-learn detector, and cross-conformal of a stack.
    yield ConformalDetector(IsolationForest(n_estimators=10, random_state=0), random_state=0)
    yield UnlabeledConformalDetector(IsolationForest(n_estimators=10, random_state=0),
                                     random_state=0)
    yield UnlabeledConformalDetector(DeepSVDD(**FAST, pretrain_epochs=1), cv=2, random_state=0)


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
    if type(estimator).__name__.startswith("Unlabeled"):
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
def test_sklearn_compatible_estimator(estimator, check):
    """Every scikit-learn estimator check passes (expected failures justified above)."""
    check(estimator)
