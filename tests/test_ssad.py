"""Tests of the SSAD estimator (Görnitz et al., 2013) and its dual solver."""

import re

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.stats import spearmanr
from sklearn.svm import OneClassSVM

from skdeepad.classical import SSAD
from skdeepad.utils import as_partial_labels


def _problem(seed, n=40, n_pos=4, n_neg=4, d=3):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    y = np.zeros(n, dtype=int)
    y[:n_pos] = 1
    y[n_pos : n_pos + n_neg] = -1
    return X, as_partial_labels(y)  # known normals without known anomalies are meant


def _dual_parts(det, X, y):
    K = det._kernel(X, X)
    s = np.where(y == -1, -1.0, 1.0)
    C = np.where(y == 0, det.eta_u, det.eta_l)
    Q = s[:, None] * s[None, :] * K
    b = s * np.diag(K)
    return K, s, C, Q, b


def _slsqp_dual(det, X, y):
    """Independent reference: the same dual by SLSQP from several starts."""
    _, s, C, Q, b = _dual_parts(det, X, y)
    lab = (y != 0).astype(float)
    cons = [{"type": "eq", "fun": lambda a: s @ a - 1.0, "jac": lambda a: s}]
    if lab.any():
        cons.append({"type": "eq", "fun": lambda a: lab @ a - det.kappa, "jac": lambda a: lab})
    best = -np.inf
    for seed in range(3):
        a0 = np.random.RandomState(seed).rand(len(y)) * C
        res = minimize(
            lambda a: a @ Q @ a - b @ a,
            a0,
            jac=lambda a: 2.0 * Q @ a - b,
            method="SLSQP",
            bounds=list(zip(np.zeros_like(C), C)),
            constraints=cons,
            tol=1e-12,
            options={"maxiter": 2000},
        )
        if res.success:
            best = max(best, -res.fun)
    assert np.isfinite(best)
    return best


def _alpha(det, n):
    alpha = np.zeros(n)
    alpha[det.support_] = np.abs(det.dual_coef_.ravel())
    return alpha


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "params,labels",
    [
        (dict(eta_u=0.1, eta_l=0.5, kappa=1.0), (4, 4)),
        (dict(eta_u=0.05, eta_l=0.2, kappa=0.5), (5, 3)),
        (dict(eta_u=0.1, eta_l=1.0, kappa=1.0, kernel="linear"), (3, 5)),
        (dict(eta_u=0.08), (0, 0)),
        (dict(eta_u=0.1, eta_l=0.5, kappa=0.5), (4, 0)),
        (dict(eta_u=0.1, eta_l=0.5, kappa=0.5), (0, 4)),
    ],
)
def test_dual_is_optimal(seed, params, labels):
    """Dual objective matches SLSQP's and the alphas satisfy the KKT conditions."""
    X, y = _problem(seed, n=30 + 10 * (seed % 3), n_pos=labels[0], n_neg=labels[1])
    det = SSAD(tol=1e-8, **params).fit(X, y)
    ref = _slsqp_dual(det, X, y)
    assert det.objective_ == pytest.approx(ref, rel=1e-6)
    assert det.objective_ >= ref - 1e-9 * abs(ref)  # never worse than SLSQP

    _, s, C, Q, b = _dual_parts(det, X, y)
    alpha = _alpha(det, len(y))
    assert np.all(alpha >= 0) and np.all(alpha <= C + 1e-15)
    assert s @ alpha == pytest.approx(1.0, abs=1e-10)
    if (y != 0).any():
        assert alpha[y != 0].sum() == pytest.approx(det.kappa, abs=1e-10)
    assert det.objective_ == pytest.approx(b @ alpha - alpha @ Q @ alpha, rel=1e-10)
    # KKT: per group G a threshold theta_G with g >= theta on a=0, g <= theta
    # on a=C, and 2 theta_U = theta_+ - theta_-; checked via group bounds.
    g = 2.0 * Q @ alpha - b
    tol = 1e-7
    bnd = {}
    for name, mask in [("u", y == 0), ("p", y == 1), ("n", y == -1)]:
        up = g[mask & (alpha < C)].min(initial=np.inf)
        low = g[mask & (alpha > 0)].max(initial=-np.inf)
        assert low <= up + tol
        bnd[name] = (low, up)
    if all((y == v).any() for v in (0, 1, -1)):
        assert 2 * bnd["u"][0] <= bnd["p"][1] - bnd["n"][0] + tol
        assert bnd["p"][0] - bnd["n"][1] <= 2 * bnd["u"][1] + tol


def test_radius_matches_free_support_vectors():
    X, y = _problem(0, n=60, n_pos=0, n_neg=0)
    det = SSAD(eta_u=0.1, tol=1e-8).fit(X)
    alpha = _alpha(det, len(X))
    free = (alpha > 1e-9) & (alpha < 0.1 - 1e-9)
    assert free.any()
    dist = -det.score_samples(X)
    np.testing.assert_allclose(dist[free], det.radius_, atol=1e-7)
    # inside the sphere <=> alpha < eta_u, outside <=> alpha > 0
    assert np.all(dist[alpha == 0] <= det.radius_ + 1e-7)
    assert np.all(dist[alpha >= 0.1] >= det.radius_ - 1e-7)


@pytest.mark.parametrize("eta_u", [0.02, 0.05, 0.5])
def test_no_labels_equals_one_class_svm(eta_u):
    rng = np.random.RandomState(1)
    X = rng.randn(80, 4)
    X_test = 1.5 * rng.randn(200, 4)
    det = SSAD(eta_u=eta_u, tol=1e-8).fit(X)
    ocsvm = OneClassSVM(gamma=det.gamma_, nu=min(1.0, 1.0 / (eta_u * len(X))), tol=1e-12).fit(X)
    rho = spearmanr(det.score_samples(X_test), ocsvm.decision_function(X_test))[0]
    assert rho > 0.9999
    # the score is an affine map of OCSVM's: same inlier/outlier boundary
    a, c = np.polyfit(ocsvm.decision_function(X_test), det.decision_function(X_test), 1)
    assert a > 0 and abs(c) < 1e-4 * a + 1e-6
    agree = np.mean((det.predict(X_test) == 1) == (ocsvm.predict(X_test) == 1))
    assert agree > 0.99


def test_no_labels_is_svdd_and_ignores_kappa():
    """Without labels kappa plays no role: the problem is SVDD."""
    X, _ = _problem(3, n=50, n_pos=0, n_neg=0)
    a = SSAD(eta_u=0.05, kappa=0.0).fit(X)
    b = SSAD(eta_u=0.05, kappa=7.0).fit(X)
    np.testing.assert_allclose(a.score_samples(X), b.score_samples(X))
    assert a.objective_ == pytest.approx(_slsqp_dual(a, X, np.zeros(len(X), int)), rel=1e-6)


def test_labeled_anomaly_pushes_boundary():
    rng = np.random.RandomState(0)
    X = rng.randn(100, 2)
    i = int(np.argmin(np.abs(np.linalg.norm(X, axis=1) - 1.0)))  # inside the cloud
    y = np.zeros(len(X), dtype=int)
    before = SSAD(eta_u=0.1).fit(X)
    y[i] = -1
    after = SSAD(eta_u=0.1, eta_l=1.0, kappa=0.5).fit(X, y)
    assert after.decision_function(X[i : i + 1])[0] < before.decision_function(X[i : i + 1])[0]
    assert after.score_samples(X[i : i + 1])[0] < before.score_samples(X[i : i + 1])[0]
    assert after.predict(X[i : i + 1])[0] == -1
    assert after.margin_ > 0


def test_labeled_normal_is_pulled_in():
    rng = np.random.RandomState(0)
    X = np.r_[rng.randn(100, 2), [[2.8, 2.8]]]
    y = np.zeros(len(X), dtype=int)
    before = SSAD(eta_u=0.1).fit(X)
    y[-1] = 1
    after = SSAD(eta_u=0.1, eta_l=1.0, kappa=0.5).fit(X, as_partial_labels(y))
    assert before.predict(X[-1:])[0] == -1
    assert after.predict(X[-1:])[0] == 1


def test_contamination_and_offset():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 3)
    det = SSAD(eta_u=0.05).fit(X)
    assert det.offset_ == -det.radius_
    np.testing.assert_allclose(det.decision_function(X), det.score_samples(X) + det.radius_)
    det = SSAD(eta_u=0.05, contamination=0.1).fit(X)
    assert np.mean(det.predict(X) == -1) == pytest.approx(0.1, abs=0.01)


def test_kernels_agree():
    """precomputed, callable and sparse input give the same model as rbf."""
    rng = np.random.RandomState(0)
    X, X_test = rng.randn(50, 3), rng.randn(20, 3)
    y = np.zeros(50, dtype=int)
    y[:3], y[3:6] = 1, -1
    ref = SSAD(eta_u=0.1, kappa=0.5, gamma=0.3).fit(X, y)
    K, K_test = ref._kernel(X, X), ref._kernel(X_test, X)
    pre = SSAD(kernel="precomputed", eta_u=0.1, kappa=0.5).fit(K, y)
    call = SSAD(kernel=lambda A, B: ref._kernel(A, B), eta_u=0.1, kappa=0.5).fit(X, y)
    spm = SSAD(eta_u=0.1, kappa=0.5, gamma=0.3).fit(sp.csr_matrix(X), y)
    expected = ref.score_samples(X_test)
    np.testing.assert_allclose(pre.score_samples(K_test), expected, atol=1e-9)
    np.testing.assert_allclose(call.score_samples(X_test), expected, atol=1e-9)
    np.testing.assert_allclose(spm.score_samples(sp.csr_matrix(X_test)), expected, atol=1e-9)
    assert not hasattr(pre, "support_vectors_")


def test_small_cache_same_result():
    X, y = _problem(2, n=60, n_pos=3, n_neg=3)
    a = SSAD(eta_u=0.05, eta_l=0.5, kappa=0.5).fit(X, y)
    b = SSAD(eta_u=0.05, eta_l=0.5, kappa=0.5, cache_size=1e-5).fit(X, y)
    assert a.objective_ == pytest.approx(b.objective_, rel=1e-10)


def test_bad_input():
    X, y = _problem(0)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SSAD().fit(X_nan)
    with pytest.raises(ValueError, match=r"y must contain only \+1"):
        SSAD().fit(X, np.where(y == 0, 2, y))
    with pytest.raises(ValueError, match="labeled -1"):
        SSAD().fit(X, -np.ones(len(X)))
    with pytest.raises(ValueError, match="infeasible.*kappa"):
        SSAD(kappa=5.0, eta_l=0.5).fit(X, y)  # kappa > eta_l * n_labeled = 4
    with pytest.raises(ValueError, match="infeasible.*eta_u"):
        SSAD(eta_u=0.01).fit(X)  # eta_u * n < 1
    with pytest.raises(ValueError, match="square Gram matrix"):
        SSAD(kernel="precomputed").fit(X)
    with pytest.raises(ValueError, match="kappa"):
        SSAD(kappa=-1.0).fit(X)
    det = SSAD().fit(X)
    with pytest.raises(ValueError, match="features"):
        det.predict(X[:, :2])


def test_convergence_warning():
    from sklearn.exceptions import ConvergenceWarning

    X, y = _problem(0)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        SSAD(eta_u=0.1, eta_l=0.5, max_iter=2).fit(X, y)


def _deep_constant_message():
    """The message the deep detectors give for identical samples."""
    from skdeepad import DeepSAD

    with pytest.raises(ValueError) as info:
        DeepSAD(device="cpu").fit(np.ones((6, 3)))
    return str(info.value)


@pytest.mark.parametrize("kernel", ["rbf", "linear"])
@pytest.mark.parametrize("sparse", [False, True])
def test_identical_samples_are_refused_like_the_deep_detectors(kernel, sparse):
    """All-constant X raises the deep detectors' ValueError (it used to fit)."""
    message = _deep_constant_message()
    assert message.startswith("All features of X are constant")
    X = np.full((8, 3), 2.5)
    y = np.r_[np.zeros(6), 1, -1]
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SSAD(kernel=kernel).fit(sp.csr_matrix(X) if sparse else X, y)
    X[0, 1] = 3.0  # one differing sample is enough to fit
    SSAD(kernel=kernel).fit(sp.csr_matrix(X) if sparse else X, y)
