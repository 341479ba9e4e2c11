"""Semi-supervised anomaly detection (SSAD) with an exact dual solver.

Görnitz, Kloft, Rieck and Brefeld, "Toward Supervised Anomaly Detection",
Journal of Artificial Intelligence Research 46 (2013), 235-262.

Primal (kernel feature map ``phi``, centre ``c``, squared radius ``R2``,
margin ``gamma``; ``U`` unlabeled, ``L`` labeled with ``y_j`` in {+1, -1})::

    min  R2 - kappa*gamma + eta_u * sum_U xi_i + eta_l * sum_L xi_j
    s.t. ||phi_i - c||^2 <= R2 + xi_i                    i in U
         y_j (||phi_j - c||^2 - R2) <= -gamma + xi_j     j in L,   xi >= 0

Dual.  With multipliers ``alpha_i >= 0`` for the constraints and ``beta_i``
for ``xi_i >= 0``, and the sign ``s_i = 1`` on ``U`` and ``s_j = y_j`` on
``L``, the Lagrangian is::

    R2 (1 - sum_i s_i a_i) + gamma (sum_L a_j - kappa)
      + sum_i s_i a_i ||phi_i - c||^2 + sum_i (eta_i - a_i - beta_i) xi_i

* ``d/dR2 = 0``:    ``sum_i s_i a_i = 1``
* ``d/dgamma = 0``: ``sum_{j in L} a_j = kappa``
* ``d/dxi_i = 0``:  ``0 <= a_i <= eta_i`` (``eta_u`` on U, ``eta_l`` on L)
* ``d/dc = 0``:     ``c = sum_i s_i a_i phi_i`` (the quadratic in ``c`` has
  coefficient ``sum_i s_i a_i = 1 > 0``, so this is its minimum).

Substituting, ``sum_i s_i a_i ||phi_i - c||^2 = sum_i s_i a_i k_ii - ||c||^2``,
and the dual is the concave QP::

    max_a  D(a) = sum_i s_i a_i k_ii - sum_ij s_i s_j a_i a_j k_ij
    s.t.   0 <= a_i <= eta_i,  sum_i s_i a_i = 1,  sum_{j in L} a_j = kappa.

With no labeled sample, ``gamma`` and the second equality disappear and this
is exactly SVDD (Tax and Duin, 2004); with an RBF kernel (``k_ii = 1``) it has
the minimiser of :class:`sklearn.svm.OneClassSVM` with ``nu = 1/(eta_u n)``.
For known anomalies the primal constraint is not convex (Görnitz et al.,
2013, Sec. 3), so this dual is its convex (Lagrangian) relaxation, the problem
this module solves.

Solver.  A feasible direction must keep both equalities.  Pairs that
exchange mass inside one of the groups ``U``, ``L+`` (``y=+1``), ``L-``
(``y=-1``) do; across groups the only freedom (when all three groups are
non-empty) is the direction ``+1`` on an ``L+``, ``-1`` on an ``L-`` and
``-2`` on a ``U`` variable.  With ``g`` the gradient of ``f = -D`` and the
per-group bounds ``up_G = min{g_i : a_i < eta_i}``,
``low_G = max{g_i : a_i > 0}``, the KKT conditions read ``low_G <= up_G``
per group and ``2 low_U <= up_+ - low_-``, ``low_+ - up_- <= 2 up_U``
(the group thresholds ``theta_G`` satisfy ``2 theta_U = theta_+ - theta_-``).
The solver (SMO, Platt 1999, with second-order pair selection of Fan, Chen
and Lin, 2005) takes the most violated of these conditions each iteration,
makes the exact one-dimensional minimisation along it, and stops when every
violation is ``<= tol``.  Kernel columns are computed on demand and kept in an
LRU cache, so memory is ``O(n * cache)`` rather than ``O(n^2)``.
"""

import numbers
import warnings
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..base import ThresholdMixin, check_not_all_constant
from ..utils._labels import check_partial_labels

__all__ = ["SSAD"]

_U, _POS, _NEG = 0, 1, 2
_TAU = 1e-12  # curvature floor, as in LIBSVM


class _KernelColumns:
    """Kernel matrix columns ``K[:, i]`` of the training set, computed on demand
    and kept in a least-recently-used cache of at most ``cache_size`` MB."""

    def __init__(self, X, kernel, gamma, cache_size):
        self.X = X
        self.kernel = kernel
        self.gamma = gamma
        n = X.shape[0]
        self.max_cols = max(2, int(cache_size * 2**20 / (8 * max(n, 1))))
        self.cache = OrderedDict()
        if kernel == "precomputed":
            self.diag = np.asarray(np.diag(X), dtype=np.float64).copy()
        elif kernel in ("rbf", "linear"):
            if sp.issparse(X):
                self.sq = np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel()
            else:
                self.sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
            self.diag = np.ones(n) if kernel == "rbf" else self.sq.copy()
        else:
            self.diag = _callable_diag(kernel, X)

    def _compute(self, i):
        X = self.X
        if self.kernel == "precomputed":
            return np.ascontiguousarray(X[:, i], dtype=np.float64)
        if self.kernel in ("rbf", "linear"):
            xi = X[i].toarray().ravel() if sp.issparse(X) else X[i]
            dot = np.asarray(X @ xi, dtype=np.float64).ravel()
            if self.kernel == "linear":
                return dot
            d2 = np.maximum(self.sq + self.sq[i] - 2.0 * dot, 0.0)
            d2[i] = 0.0
            return np.exp(-self.gamma * d2)
        return np.asarray(self.kernel(X, X[i : i + 1]), dtype=np.float64).ravel()

    def __call__(self, i):
        col = self.cache.get(i)
        if col is not None:
            self.cache.move_to_end(i)
            return col
        col = self._compute(i)
        self.cache[i] = col
        if len(self.cache) > self.max_cols:
            self.cache.popitem(last=False)
        return col


def _callable_diag(kernel, X, block=256):
    """``k(x, x)`` for each row of X for a callable kernel, block by block."""
    n = X.shape[0]
    out = np.empty(n)
    for start in range(0, n, block):
        stop = min(n, start + block)
        Kb = np.asarray(kernel(X[start:stop], X[start:stop]), dtype=np.float64)
        out[start:stop] = np.diag(Kb)
    return out


def _group_bounds(g, alpha, C, idx):
    """``(up, i_up, low, i_low)`` of one group: the smallest gradient among
    variables that can grow and the largest among those that can shrink."""
    if idx.size == 0:
        return np.inf, -1, -np.inf, -1
    gg = g[idx]
    a = alpha[idx]
    can_up = a < C[idx]
    can_dn = a > 0.0
    up, i_up, low, i_low = np.inf, -1, -np.inf, -1
    if can_up.any():
        v = np.where(can_up, gg, np.inf)
        k = int(np.argmin(v))
        up, i_up = float(v[k]), int(idx[k])
    if can_dn.any():
        v = np.where(can_dn, gg, -np.inf)
        k = int(np.argmax(v))
        low, i_low = float(v[k]), int(idx[k])
    return up, i_up, low, i_low


def _initial_alpha(groups, C, kappa, labeled, n):
    """A feasible starting point, or ValueError when the dual is infeasible.

    The group sums ``A_U, A_+, A_-`` must satisfy ``A_U + A_+ - A_- = 1`` and
    (with labels) ``A_+ + A_- = kappa``; with ``a = A_+`` this leaves an
    interval for ``a`` that the boxes ``0 <= A_G <= eta_G |G|`` cut down.
    """
    n_u, n_p, n_n = (g.size for g in groups)
    cap = [float(C[g].sum()) for g in groups]
    eps = 1e-12 * (1.0 + kappa)
    if not labeled:
        sums = [1.0, 0.0, 0.0]
        if cap[_U] < 1.0 - eps:
            raise ValueError(
                f"The SSAD dual is infeasible: the unlabeled weights must sum to 1 but "
                f"eta_u * n_unlabeled = {cap[_U]:.6g} < 1. Increase eta_u to at least "
                f"1 / n_unlabeled = {1.0 / max(n_u, 1):.6g}."
            )
    else:
        lo = max(0.0, kappa - cap[_NEG])
        hi = min(cap[_POS], kappa)
        if n_u > 0:
            lo = max(lo, (1.0 + kappa - cap[_U]) / 2.0)
            hi = min(hi, (1.0 + kappa) / 2.0)
        else:
            lo = max(lo, (1.0 + kappa) / 2.0)
            hi = min(hi, (1.0 + kappa) / 2.0)
        if lo > hi + eps:
            raise ValueError(
                "The SSAD dual is infeasible for these parameters and labels: it needs "
                "weights 0 <= alpha <= eta with sum(labeled alpha) = kappa and "
                "sum(unlabeled alpha) + sum(alpha on y=+1) - sum(alpha on y=-1) = 1. "
                f"Got kappa={kappa:.6g}, eta_l * n_labeled = {cap[_POS] + cap[_NEG]:.6g} "
                f"(n_+1={n_p}, n_-1={n_n}), eta_u * n_unlabeled = {cap[_U]:.6g} "
                f"(n_unlabeled={n_u}). Typically: lower kappa to at most "
                "eta_l * n_labeled, or raise eta_l / eta_u."
            )
        a = min(max(0.5 * (lo + hi), 0.0), cap[_POS])
        sums = [max(1.0 + kappa - 2.0 * a, 0.0) if n_u else 0.0, a, max(kappa - a, 0.0)]
    alpha = np.zeros(n)
    for grp, total in zip(groups, sums):
        remaining = total
        for i in grp:  # fill greedily in index order: few non-zero weights
            if remaining <= 0.0:
                break
            alpha[i] = min(C[i], remaining)
            remaining -= alpha[i]
    return alpha


def _smo(kcol, s, C, groups, labeled, alpha, tol, max_iter):
    """Minimise ``f(a) = a'Qa - b'a`` (``Q = diag(s) K diag(s)``,
    ``b_i = s_i k_ii``) over the SSAD dual polytope, starting from the feasible
    ``alpha``.  Returns ``alpha, g, n_iter, max_violation``."""
    diag = kcol.diag
    b = s * diag
    g = -b.copy()
    for i in np.flatnonzero(alpha):  # g = 2 Q alpha - b
        g += 2.0 * s * (s[i] * alpha[i]) * kcol(i)
    cross = labeled and all(grp.size > 0 for grp in groups)
    sign = (1.0, 1.0, -1.0)
    n_iter, viol = 0, np.inf
    while n_iter < max_iter:
        bounds = [_group_bounds(g, alpha, C, grp) for grp in groups]
        best, kind = -np.inf, None
        for k, (up, _, low, _) in enumerate(bounds):
            if low - up > best:
                best, kind = low - up, ("pair", k)
        if cross:
            up_u, iu_u, low_u, il_u = bounds[_U]
            up_p, iu_p, low_p, il_p = bounds[_POS]
            up_n, iu_n, low_n, il_n = bounds[_NEG]
            v1 = 2.0 * low_u - (up_p - low_n)  # +1 on L+, -1 on L-, -2 on U
            if v1 > best:
                best, kind = v1, ("cross", (iu_p, il_n, il_u), (1.0, -1.0, -2.0))
            v2 = (low_p - up_n) - 2.0 * up_u  # -1 on L+, +1 on L-, +2 on U
            if v2 > best:
                best, kind = v2, ("cross", (il_p, iu_n, iu_u), (-1.0, 1.0, 2.0))
        viol = best
        if not np.isfinite(viol) or viol <= tol:
            break
        n_iter += 1
        if kind[0] == "pair":
            k = kind[1]
            _, i, _, _ = bounds[k]
            grp = groups[k]
            Ki = kcol(i)
            # second-order choice of the shrinking variable j (Fan et al., 2005)
            gg = g[grp]
            ok = (alpha[grp] > 0.0) & (gg > g[i])
            diff = gg - g[i]
            curv = np.maximum(2.0 * (diag[i] + diag[grp] - 2.0 * Ki[grp]), _TAU)
            gain = np.where(ok, diff * diff / curv, -np.inf)
            m = int(np.argmax(gain))
            j = int(grp[m])
            Kj = kcol(j)
            a = max(2.0 * (diag[i] + diag[j] - 2.0 * Ki[j]), _TAU)
            t = (g[j] - g[i]) / a
            lim_i, lim_j = C[i] - alpha[i], alpha[j]
            t = min(t, lim_i, lim_j)
            if t == lim_i:
                alpha[i] = C[i]
            else:
                alpha[i] += t
            if t == lim_j:
                alpha[j] = 0.0
            else:
                alpha[j] -= t
            g += (2.0 * sign[k] * t) * s * (Ki - Kj)
        else:
            idx, d = kind[1], np.asarray(kind[2])
            cols = [kcol(i) for i in idx]
            w = s[list(idx)] * d
            Ksub = np.array([[cols[q][idx[p]] for q in range(3)] for p in range(3)])
            curv = max(2.0 * float(w @ Ksub @ w), _TAU)
            deriv = float(d @ g[list(idx)])
            t = -deriv / curv
            lims = [(C[i] - alpha[i]) / dk if dk > 0 else alpha[i] / -dk for i, dk in zip(idx, d)]
            t = min([t, *lims])
            for i, dk, lim in zip(idx, d, lims):
                if t == lim:
                    alpha[i] = C[i] if dk > 0 else 0.0
                else:
                    alpha[i] = min(max(alpha[i] + t * dk, 0.0), C[i])
            g += 2.0 * t * s * (w[0] * cols[0] + w[1] * cols[1] + w[2] * cols[2])
    return alpha, g, n_iter, viol


def _threshold(g, alpha, C, grp):
    """KKT threshold ``theta`` of a group: mean gradient over free variables,
    else the middle of its feasible interval; plus that interval."""
    if grp.size == 0:
        return None, -np.inf, np.inf
    a, gg = alpha[grp], g[grp]
    free = (a > 0.0) & (a < C[grp])
    lo = float(gg[a > 0.0].max()) if (a > 0.0).any() else -np.inf
    hi = float(gg[a < C[grp]].min()) if (a < C[grp]).any() else np.inf
    if free.any():
        return float(gg[free].mean()), lo, hi
    return None, lo, hi


def _mid(lo, hi):
    if np.isfinite(lo) and np.isfinite(hi):
        return 0.5 * (lo + hi)
    if np.isfinite(lo):
        return lo
    if np.isfinite(hi):
        return hi
    return 0.0


class SSAD(ThresholdMixin, OutlierMixin, BaseEstimator):
    """Semi-supervised anomaly detection with a kernel hypersphere (SSAD).

    SSAD (Görnitz et al., 2013) is support vector data description (SVDD,
    Tax and Duin, 2004) extended with partial labels: unlabeled samples should
    lie inside a hypersphere of centre ``c`` and squared radius ``R^2`` in the
    kernel feature space, known normals (``y=+1``) inside and known anomalies
    (``y=-1``) outside it, both with a margin ``gamma`` that is rewarded with
    weight ``kappa``.  The dual, a convex quadratic programme, is solved
    exactly (to a KKT tolerance ``tol``) by a dedicated SMO solver; the
    derivation is in the module docstring.  Without labels the model is SVDD,
    and with an RBF kernel it ranks samples like
    :class:`~sklearn.svm.OneClassSVM` with ``nu = 1 / (eta_u * n_samples)``.

    Parameters
    ----------
    kernel : {"rbf", "linear", "precomputed"} or callable, default="rbf"
        Kernel.  A callable takes ``(X, Y)`` and returns the Gram matrix of
        shape ``(len(X), len(Y))``.  With ``"precomputed"``, ``fit`` takes the
        square training Gram matrix and the other methods the
        ``(n_test, n_train)`` matrix against the training samples.
    gamma : {"scale", "auto"} or float, default="scale"
        RBF coefficient in ``exp(-gamma ||x - x'||^2)``.  ``"scale"`` uses
        ``1 / (n_features * X.var())`` and ``"auto"`` ``1 / n_features``, as in
        :class:`~sklearn.svm.SVC`.  Ignored by the other kernels.
    kappa : float, default=1.0
        Weight ``kappa >= 0`` of the margin ``gamma`` of labeled samples.  The
        dual requires ``sum(labeled alpha) = kappa`` with each alpha at most
        ``eta_l``, so ``kappa <= eta_l * n_labeled``; infeasible settings raise
        a ValueError at fit.  Unused without labeled samples.
    eta_u : float, default=1.0
        Penalty ``> 0`` on the slack of unlabeled samples (upper bound of
        their dual weights).  ``eta_u = 1 / (nu * n_samples)`` recovers
        One-Class SVM's ``nu``.  Must satisfy ``eta_u * n_unlabeled >= 1`` when
        no sample is labeled.
    eta_l : float, default=1.0
        Penalty ``> 0`` on the slack of labeled samples.
    contamination : "auto" or float in (0, 0.5], default="auto"
        With ``"auto"``, the boundary is the hypersphere: ``offset_ = -R^2``.
        A float sets ``offset_`` to that quantile of the training scores, so
        that this proportion of the training set is flagged (the semantics of
        :class:`~sklearn.ensemble.IsolationForest`).
    tol : float, default=1e-6
        Stopping tolerance on the maximal KKT violation (a gradient
        difference, in the units of the kernel).  On shuttle subsamples the
        dual objective at 1e-6 agrees with 1e-8 to 7 significant digits, while
        1e-8 needs over 10^6 iterations at n = 20,000 with the default etas
        (``benchmarks/ssad_scaling.py``); pass 1e-8 or less for reference
        solutions.
    max_iter : int, default=1_000_000
        Maximum number of solver iterations; a ConvergenceWarning is issued
        when it is reached before ``tol``.
    cache_size : float, default=200
        Size in MB of the kernel-column cache.

    Attributes
    ----------
    dual_coef_ : ndarray of shape (1, n_support)
        Signed dual weights ``s_i alpha_i`` of the support vectors
        (``s_i = +1`` for unlabeled and known normals, ``-1`` for known
        anomalies), so that ``c = sum_i dual_coef_[0, i] phi(x_i)``.
    support_ : ndarray of shape (n_support,)
        Indices of the support vectors (``alpha_i > 0``) in the training set.
    support_vectors_ : ndarray or sparse matrix of shape (n_support, n_features)
        The support vectors.  Not set when ``kernel="precomputed"``.
    radius_ : float
        The squared radius ``R^2`` (not ``R``), from the KKT conditions of the
        free support vectors (``0 < alpha_i < eta_i``).
    margin_ : float
        The margin ``gamma`` of the labeled samples (0 without labels).
    offset_ : float
        ``decision_function = score_samples - offset_``; ``-R^2`` with
        ``contamination="auto"``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during fit, when X has string column names.
    n_iter_ : int
        Number of solver iterations.
    objective_ : float
        Value of the dual objective ``D(alpha)`` at the solution.
    gamma_ : float
        The RBF coefficient used (``nan`` for other kernels).

    See Also
    --------
    sklearn.svm.OneClassSVM : The unsupervised ``nu``-formulation, equivalent
        to SSAD without labels under an RBF kernel.
    skdeepad.DeepSAD : The deep semi-supervised counterpart (Ruff et al., 2020).

    Notes
    -----
    The anomaly score is ``||phi(x) - c||^2 - R^2``; :meth:`score_samples`
    returns ``-||phi(x) - c||^2`` (higher means more normal).  For known
    anomalies the primal constraint is not convex, so the dual solved here is
    the convex relaxation of the SSAD problem (Görnitz et al., 2013, derive
    and discuss both).

    With ``kernel="precomputed"`` the test self-similarity ``k(x, x)`` cannot
    be read from the ``(n_test, n_train)`` matrix; it is taken as the mean of
    the training diagonal, which is exact for kernels with a constant
    diagonal (RBF, normalised kernels).

    Memory is ``O(n_samples * cache)``: kernel columns are computed on
    demand and cached.  Time grows roughly quadratically with
    ``n_samples``.

    References
    ----------
    .. [1] N. Görnitz, M. Kloft, K. Rieck and U. Brefeld, "Toward Supervised
       Anomaly Detection", Journal of Artificial Intelligence Research 46,
       235-262, 2013.
    .. [2] D. M. J. Tax and R. P. W. Duin, "Support Vector Data Description",
       Machine Learning 54, 45-66, 2004.
    .. [3] J. C. Platt, "Fast Training of Support Vector Machines using
       Sequential Minimal Optimization", in Advances in Kernel Methods, 1999.
    .. [4] R.-E. Fan, P.-H. Chen and C.-J. Lin, "Working Set Selection Using
       Second Order Information for Training Support Vector Machines", JMLR 6,
       1889-1918, 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad.classical import SSAD
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.randn(100, 2), [[4.0, 4.0], [0.5, 0.5]]]
    >>> y = np.zeros(len(X), dtype=int)
    >>> y[-1] = -1  # a known anomaly inside the cloud
    >>> det = SSAD(eta_u=0.1, kappa=0.5).fit(X, y)
    >>> det.predict([[0.0, 0.0], [4.0, 4.0]])
    array([ 1, -1])
    """

    _parameter_constraints: dict = {
        "kernel": [StrOptions({"rbf", "linear", "precomputed"}), callable],
        "gamma": [StrOptions({"scale", "auto"}), Interval(numbers.Real, 0, None, closed="neither")],
        "kappa": [Interval(numbers.Real, 0, None, closed="left")],
        "eta_u": [Interval(numbers.Real, 0, None, closed="neither")],
        "eta_l": [Interval(numbers.Real, 0, None, closed="neither")],
        "contamination": [StrOptions({"auto"}), Interval(numbers.Real, 0, 0.5, closed="right")],
        "tol": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "cache_size": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        kernel="rbf",
        gamma="scale",
        kappa=1.0,
        eta_u=1.0,
        eta_l=1.0,
        contamination="auto",
        tol=1e-6,
        max_iter=1_000_000,
        cache_size=200,
    ):
        self.kernel = kernel
        self.gamma = gamma
        self.kappa = kappa
        self.eta_u = eta_u
        self.eta_l = eta_l
        self.contamination = contamination
        self.tol = tol
        self.max_iter = max_iter
        self.cache_size = cache_size

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self.kernel != "precomputed"
        tags.input_tags.pairwise = self.kernel == "precomputed"
        return tags

    def _validate_X(self, X, reset):
        X = validate_data(
            self,
            X,
            reset=reset,
            accept_sparse=False if self.kernel == "precomputed" else "csr",
            dtype=np.float64,
            ensure_min_samples=1,
        )
        if self.kernel == "precomputed" and reset and X.shape[0] != X.shape[1]:
            raise ValueError(
                "With kernel='precomputed', fit needs the square Gram matrix of the "
                f"training samples; got X of shape {X.shape}."
            )
        if reset and self.kernel != "precomputed" and X.shape[0] >= 2:
            check_not_all_constant(X)
        return X

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the hypersphere by solving the SSAD dual.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training samples, or the ``(n_samples, n_samples)`` Gram matrix
            when ``kernel="precomputed"``.
        y : array-like of shape (n_samples,), default=None
            Partial labels: ``+1`` known normal, ``-1`` known anomaly, ``0``
            unlabeled.  ``None`` means all unlabeled (plain SVDD).

        Returns
        -------
        self : object
            The fitted detector.

        Raises
        ------
        ValueError
            If the (two or more) samples of ``X`` are all identical, as the
            deep detectors do (not checked for ``kernel="precomputed"``).
        """
        X = self._validate_X(X, reset=True)
        n = X.shape[0]
        y = check_partial_labels(y, n)
        if self.kernel == "rbf":
            if isinstance(self.gamma, str):
                if self.gamma == "scale":
                    var = (
                        float(X.multiply(X).mean() - X.mean() ** 2)
                        if sp.issparse(X)
                        else float(X.var())
                    )
                    self.gamma_ = 1.0 / (X.shape[1] * var) if var > 0 else 1.0
                else:
                    self.gamma_ = 1.0 / X.shape[1]
            else:
                self.gamma_ = float(self.gamma)
        else:
            self.gamma_ = float("nan")

        labeled = bool(np.any(y != 0))
        s = np.where(y == -1, -1.0, 1.0)
        C = np.where(y == 0, float(self.eta_u), float(self.eta_l))
        groups = (
            np.flatnonzero(y == 0),
            np.flatnonzero(y == 1),
            np.flatnonzero(y == -1),
        )
        kappa = float(self.kappa)
        alpha = _initial_alpha(groups, C, kappa, labeled, n)

        kcol = _KernelColumns(X, self.kernel, self.gamma_, self.cache_size)
        alpha, g, n_iter, viol = _smo(
            kcol, s, C, groups, labeled, alpha, float(self.tol), int(self.max_iter)
        )
        if n_iter >= self.max_iter and viol > self.tol:
            warnings.warn(
                f"SSAD solver stopped at max_iter={self.max_iter} with a KKT "
                f"violation of {viol:.3g} > tol={self.tol}. Increase max_iter.",
                ConvergenceWarning,
                stacklevel=2,
            )
        b = s * kcol.diag
        c_sq = float(alpha @ (g + b)) / 2.0  # ||c||^2 = alpha' Q alpha

        # group thresholds theta_G (2 theta_U = theta_+ - theta_-), then R^2
        th = [_threshold(g, alpha, C, grp) for grp in groups]
        th_u, lo_u, hi_u = th[_U]
        if th_u is None and labeled and groups[_POS].size and groups[_NEG].size:
            tp = th[_POS][0] if th[_POS][0] is not None else _mid(th[_POS][1], th[_POS][2])
            tn = th[_NEG][0] if th[_NEG][0] is not None else _mid(th[_NEG][1], th[_NEG][2])
            if th[_POS][0] is not None and th[_NEG][0] is not None:
                th_u = 0.5 * (tp - tn)
            else:
                lo_u = max(lo_u, 0.5 * (th[_POS][1] - th[_NEG][2]))
                hi_u = min(hi_u, 0.5 * (th[_POS][2] - th[_NEG][1]))
        if th_u is None:
            th_u = _mid(lo_u, hi_u)
        margin = 0.0
        if labeled and groups[_POS].size:
            tp = th[_POS][0] if th[_POS][0] is not None else _mid(th[_POS][1], th[_POS][2])
            margin = tp - th_u
        elif labeled and groups[_NEG].size:
            tn = th[_NEG][0] if th[_NEG][0] is not None else _mid(th[_NEG][1], th[_NEG][2])
            margin = tn + th_u

        support = np.flatnonzero(alpha > 0.0)
        self.support_ = support
        self.dual_coef_ = (s * alpha)[support].reshape(1, -1)
        if self.kernel != "precomputed":
            self.support_vectors_ = X[support]
        self._c_sqnorm = c_sq
        self._diag_mean = float(kcol.diag.mean())
        self.radius_ = float(c_sq - th_u)
        self.margin_ = float(margin)
        self.n_iter_ = int(n_iter)
        self.objective_ = float(alpha @ (b - g)) / 2.0  # b'a - a'Qa

        self.offset_ = self._offset_from(self._score(X, kcol_diag=kcol.diag))
        return self

    def _auto_offset(self, train_scores):
        """The hypersphere itself: ``decision_function = R^2 - ||phi(x) - c||^2``."""
        return -self.radius_

    def _kernel(self, X, Y):
        if self.kernel == "linear":
            return np.asarray(X @ Y.T.toarray() if sp.issparse(Y) else X @ Y.T)
        if self.kernel == "rbf":
            XY = X @ (Y.T.toarray() if sp.issparse(Y) else Y.T)
            XY = np.asarray(XY.toarray() if sp.issparse(XY) else XY)
            x_sq = (
                np.asarray(X.multiply(X).sum(axis=1)).ravel()
                if sp.issparse(X)
                else np.einsum("ij,ij->i", X, X)
            )
            y_sq = (
                np.asarray(Y.multiply(Y).sum(axis=1)).ravel()
                if sp.issparse(Y)
                else np.einsum("ij,ij->i", Y, Y)
            )
            d2 = np.maximum(x_sq[:, None] + y_sq[None, :] - 2.0 * XY, 0.0)
            return np.exp(-self.gamma_ * d2)
        return np.asarray(self.kernel(X, Y), dtype=np.float64)

    def _score(self, X, kcol_diag=None, block=2048):
        """``-||phi(x) - c||^2`` for validated X."""
        n = X.shape[0]
        w = self.dual_coef_.ravel()
        out = np.empty(n)
        for start in range(0, n, block):
            stop = min(n, start + block)
            Xb = X[start:stop]
            if self.kernel == "precomputed":
                Kb = np.asarray(Xb[:, self.support_], dtype=np.float64)
                diag = (
                    kcol_diag[start:stop]
                    if kcol_diag is not None
                    else np.full(stop - start, self._diag_mean)
                )
            else:
                Kb = self._kernel(Xb, self.support_vectors_)
                if self.kernel == "rbf":
                    diag = np.ones(stop - start)
                elif self.kernel == "linear":
                    diag = (
                        np.asarray(Xb.multiply(Xb).sum(axis=1)).ravel()
                        if sp.issparse(Xb)
                        else np.einsum("ij,ij->i", Xb, Xb)
                    )
                else:
                    diag = _callable_diag(self.kernel, Xb)
            out[start:stop] = -(diag - 2.0 * (Kb @ w) + self._c_sqnorm)
        return out

    def score_samples(self, X):
        """Normality score ``-||phi(x) - c||^2``: the higher, the more normal.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples to score (``(n_samples, n_train)`` kernel values against
            the training samples when ``kernel="precomputed"``).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Negated squared feature-space distance to the centre.
        """
        check_is_fitted(self)
        return self._score(self._validate_X(X, reset=False))
