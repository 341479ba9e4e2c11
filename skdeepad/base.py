"""Estimator glue shared by every deep detector.

:class:`BaseDeepDetector` owns everything that is not a method's own idea:
parameter and input validation, the ``+1/-1/0`` label convention, devices,
seeding, the validation split, building the optimizer and schedule around the
one training loop (:mod:`skdeepad._train`), batched scoring, the
``contamination -> offset_ -> decision_function/predict`` contract of
:class:`sklearn.ensemble.IsolationForest`, and persistence.  A method
subclass implements :meth:`BaseDeepDetector._fit` and
:meth:`BaseDeepDetector._score_batch` and nothing else.
"""

import contextlib
import copy
import io
import math
import numbers
import threading
import warnings
from abc import abstractmethod

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._train import _OPTIMIZERS, batch_slices, gradient_step, make_optimizer, train_loop
from .utils._labels import check_partial_labels

__all__ = ["BaseDeepDetector", "BaseDeepEstimator", "ThresholdMixin", "resolve_device"]

#: Rows scored per forward pass at prediction time.
INFERENCE_BATCH_SIZE = 8192


def _worker_rank():
    """Index of this process among parallel workers, or None in the main process.

    joblib's process workers (loky, multiprocessing) carry a 1-based
    ``_identity``; a Dask worker started by a ``LocalCluster`` has an integer
    name.  Used to spread parallel fits over the visible GPUs.
    """
    import multiprocessing

    identity = multiprocessing.current_process()._identity
    if identity:
        return identity[0] - 1
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):
        return None
    return name if isinstance(name, int) else None


def resolve_device(device):
    """Turn the ``device`` parameter into a :class:`torch.device`.

    ``"auto"`` means CUDA when it is available, else the CPU.  ``"auto"`` or
    a bare ``"cuda"`` on a machine with several GPUs, inside a parallel worker
    (``GridSearchCV(n_jobs=...)``, joblib's Dask backend), picks GPU
    ``worker index % device count``, so parallel fits spread over the GPUs
    instead of all landing on the first one.  ``"cuda:<index>"`` is kept.
    """
    if isinstance(device, str) and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a device; use 'auto', 'cpu', 'cuda', "
            "'cuda:<index>' or a torch.device."
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this "
            "machine; use device='cpu' or device='auto'."
        )
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={device!r}: only CPU, CUDA and MPS devices are supported.")
    if resolved.type == "cuda" and resolved.index is None:
        rank, count = _worker_rank(), torch.cuda.device_count()
        if rank is not None and count > 1:
            resolved = torch.device("cuda", rank % count)
    return resolved


#: Held while a fit draws from torch's global generator (see :func:`_seeded`).
_GLOBAL_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def _seeded(seed, device):
    """Seed torch inside the block and restore the caller's RNG state afterwards.

    Fitting therefore never changes the user's global random state, and two
    fits with the same ``random_state`` draw the same numbers.  The block
    holds a process-wide re-entrant lock: torch's generator is global, so
    two fits seeding it from two threads at once would draw from each
    other's stream (and restore each other's state).  Fits run from threads
    (``ThreadPoolExecutor``, joblib's threading backend) therefore take turns
    and give bit for bit the results of sequential fits; processes (joblib's
    default) run side by side.  What the lock cannot prevent: the caller's
    own code drawing from (or seeding) torch's global generator in another
    thread while a fit runs changes that fit's draws.  A generator owned by
    each fit would remove both limits.
    """
    cuda = [device.index or 0] if device.type == "cuda" else []
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.manual_seed(seed)
        yield


@contextlib.contextmanager
def _restored_on_failure(*estimators):
    """Leave ``estimators`` exactly as they were if the block raises anything.

    Fitting only ever *rebinds* attributes (a refit builds new networks, it
    never trains the previous ``network_`` in place), so a shallow copy of
    each instance dictionary is a complete snapshot: on any exception --
    ``KeyboardInterrupt`` included -- the dictionary is put back, an unfitted
    estimator is unfitted again and a fitted one keeps its previous model and
    ``offset_``, and the exception propagates.
    """
    saved = [(est, dict(vars(est))) for est in estimators]
    try:
        yield
    except BaseException:
        for est, state in saved:
            vars(est).clear()
            vars(est).update(state)
        raise


def _pack_module(module):
    """Pickle-friendly form of a module: a weightless skeleton + CPU weights."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buffer)
    skeleton = copy.deepcopy(module).to("meta")  # structure only, no data
    return _PackedModule(skeleton, buffer.getvalue())


class _PackedModule:
    """A module stored as a skeleton on the meta device plus a weights blob.

    The weights are read back with ``torch.load(weights_only=True)``, which
    can only rebuild tensors, never run code.
    """

    def __init__(self, skeleton, weights):
        self.skeleton, self.weights = skeleton, weights

    def unpack(self, device):
        state = torch.load(io.BytesIO(self.weights), map_location=device, weights_only=True)
        module = self.skeleton.to_empty(device=device)
        module.load_state_dict(state)
        return module


class _PackedTensor:
    def __init__(self, tensor):
        buffer = io.BytesIO()
        torch.save(tensor.detach().cpu(), buffer)
        self.blob = buffer.getvalue()

    def unpack(self, device):
        return torch.load(io.BytesIO(self.blob), map_location=device, weights_only=True)


def _check_positive_ints(name, value, allow_empty=False):
    """Validate a sequence of positive integers given as a parameter."""
    values = tuple(value)
    ok = all(isinstance(v, numbers.Integral) and v > 0 for v in values)
    if not ok or (not values and not allow_empty):
        raise ValueError(
            f"{name} must be a sequence of positive integers; got {value!r}."
        )
    return tuple(int(v) for v in values)


#: Largest magnitude of an input value: the networks compute in float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32_range(X):
    """Refuse finite values that would become inf when cast to float32."""
    if X.dtype == np.float32 or not X.size:
        return
    largest = max(float(X.max()), -float(X.min()))
    if largest > FLOAT32_MAX:
        raise ValueError(
            f"X contains values of magnitude up to {largest:.3g}, which do not fit "
            f"in float32 (the largest magnitude accepted is {FLOAT32_MAX:.4g}; the "
            "networks compute in float32). Scale the features first, e.g. with "
            "sklearn.preprocessing.StandardScaler in a pipeline."
        )


def check_not_all_constant(X):
    """Reject training data whose samples are all identical.

    Shared by the deep estimators and the classical detectors, so that every
    detector of the package agrees on such input. ``X`` is a validated 2-D
    array or sparse matrix with at least 2 rows.
    """
    if sp.issparse(X):
        constant = (X.max(axis=0) != X.min(axis=0)).nnz == 0
    else:
        constant = not np.any(np.ptp(X, axis=0))
    if constant:
        raise ValueError(
            "All features of X are constant (every sample is identical); there "
            "is nothing to learn. Check the input data."
        )


class ThresholdMixin:
    """``decision_function`` and ``predict`` from ``score_samples`` and ``offset_``.

    The contract of :class:`sklearn.ensemble.IsolationForest`: higher scores
    are more normal, ``decision_function = score_samples - offset_`` is
    negative for outliers, ``predict`` returns +1/-1.  ``offset_`` is the
    ``contamination`` percentile of the training scores
    (:meth:`_offset_from`), or the estimator's own ``_auto_offset`` for
    ``contamination="auto"``.
    """

    def _offset_from(self, train_scores):
        train_scores = np.asarray(train_scores, dtype=np.float64)
        if self.contamination == "auto":
            return self._auto_offset(train_scores)
        return float(np.percentile(train_scores, 100.0 * self.contamination))

    def _auto_offset(self, train_scores):
        """Threshold for ``contamination="auto"``: 10 % of the training data
        are flagged, unless the method defines a natural boundary."""
        return float(np.percentile(train_scores, 10.0))

    def decision_function(self, X):
        """Shifted score: negative for outliers, positive for inliers.

        ``decision_function(X) = score_samples(X) - offset_``.

        Parameters
        ----------
        X : array-like
            Samples, in any form ``fit`` accepts.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Predict +1 for inliers and -1 for outliers.

        Parameters
        ----------
        X : array-like
            Samples, in any form ``fit`` accepts.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            +1 (inlier) or -1 (outlier), as int.  A sample is an inlier only
            if its decision value is a number >= 0: should a score ever be
            NaN, the sample is an outlier, never silently an inlier.
        """
        return np.where(self.decision_function(X) >= 0, 1, -1)


class BaseDeepEstimator(BaseEstimator):
    """Base class of every torch-backed estimator (detectors and transformers).

    Subclasses define ``__init__`` with the shared parameters documented in
    each estimator and implement ``_fit(X, y, valid)``.

    Label convention for ``y``: ``+1`` known normal, ``-1`` known anomaly,
    ``0`` unlabeled (the Deep SAD paper's, and the sign of ``predict``).
    """

    _parameter_constraints: dict = {
        "epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "lr_milestones": ["array-like", None],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), type],
        "hidden_layer_sizes": [StrOptions({"auto"}), "array-like"],
        "network": [torch.nn.Module, callable, None],
        "init": [StrOptions({"default", "glorot"})],
        "input_shape": ["array-like", None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither"), None],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"), None],
    }

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the detector.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Training data: a 2-D table, or images/sequences either as an N-D
            array or flattened with the ``input_shape`` parameter.
        y : array-like of shape (n_samples,), default=None
            Optional partial labels: ``+1`` known normal, ``-1`` known anomaly,
            ``0`` unlabeled.  ``None`` means every sample is unlabeled.  What
            each method does with labels is stated in its docstring.

        Returns
        -------
        self : object
            The fitted detector.

        Raises
        ------
        ValueError
            If ``X`` or ``y`` is invalid: NaN, infinite or sparse ``X``, values
            too large for float32 (the networks compute in float32), constant
            data, labels outside +1/-1/0, or 0/1 labels that look like ground
            truth (1 = anomaly; see :func:`skdeepad.utils.to_partial_labels`).
        FloatingPointError
            If training diverges (a non-finite loss, a loss or weights grown
            a million-fold) or the fitted model scores its own training data
            as NaN or infinite.

        Notes
        -----
        ``fit`` is atomic: if it raises anything, ``KeyboardInterrupt``
        included, the estimator is left exactly as it was before the call
        (unfitted, or with its previous fitted model and ``offset_``).
        """
        with _restored_on_failure(self):
            X, y, seed = self._prepare_fit(X, y)
            with _seeded(seed, self.device_):
                X_t = self._to_tensor(X)
                y_t = torch.as_tensor(y, device=self.device_)
                train, valid = self._split_validation(X_t, y_t)
                self._fit(*train, valid=valid)
                self._after_fit(X_t)
        return self

    def _prepare_fit(self, X, y):
        """Everything ``fit`` does before training: checks, device, seed.

        Returns the validated ``X`` and ``y`` and the integer seed the fit
        runs under (also used by :func:`skdeepad.fit_stacked`).
        """
        self._check_params()
        X = self._validate_X(X, reset=True)
        y = self._validate_y(y, len(X))
        self.device_ = resolve_device(self.device)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        return X, y, seed

    def _after_fit(self, X):
        """Hook run on the whole training tensor once the method is fitted."""

    def _check_params(self):
        """Checks that ``_parameter_constraints`` cannot express."""
        if not isinstance(self.hidden_layer_sizes, str):
            _check_positive_ints("hidden_layer_sizes", self.hidden_layer_sizes)
        if self.lr_milestones is not None:
            _check_positive_ints("lr_milestones", self.lr_milestones, allow_empty=True)
        if self.input_shape is not None:
            _check_positive_ints("input_shape", self.input_shape)
        if self.n_iter_no_change is not None and self.validation_fraction is None:
            raise ValueError(
                "n_iter_no_change requires a held-out set: set validation_fraction "
                "(e.g. 0.1) as well, or n_iter_no_change=None."
            )

    def _validate_X(self, X, reset):
        """Validate X once per public call; return a 2-D float array."""
        nd_shape = None
        if not sp.issparse(X) and not hasattr(X, "shape"):
            X = np.asarray(X)  # lists and other array-likes, to read their ndim
        if getattr(X, "ndim", 2) > 2:
            X = check_array(X, allow_nd=True, dtype=[np.float32, np.float64])
            nd_shape = X.shape[1:]
            X = X.reshape(len(X), -1)
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float32, np.float64],
            ensure_min_samples=2 if reset else 1,
        )
        _check_float32_range(X)
        if reset:
            shape = nd_shape or (X.shape[1],)
            if self.input_shape is not None:
                given = tuple(int(v) for v in self.input_shape)
                if math.prod(given) != X.shape[1] or (nd_shape and nd_shape != given):
                    raise ValueError(
                        f"input_shape={given} describes {math.prod(given)} values per "
                        f"sample, but X has samples of shape {nd_shape or (X.shape[1],)}."
                        " Give input_shape matching one sample, or None for tabular data."
                    )
                shape = given
            self.input_shape_ = shape
            self._check_constant_features(X)
        elif nd_shape is not None and nd_shape != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {nd_shape}, but {type(self).__name__} was "
                f"fitted on samples of shape {self.input_shape_}."
            )
        return X

    def _check_constant_features(self, X):
        check_not_all_constant(X)
        constant = np.ptp(X, axis=0) == 0
        if constant.any() and len(self.input_shape_) == 1:
            warnings.warn(
                f"Features {np.flatnonzero(constant).tolist()} are constant. A constant "
                "input acts like a bias term and lets one-class objectives collapse "
                "(Ruff et al., 2018); consider dropping them "
                "(e.g. sklearn.feature_selection.VarianceThreshold).",
                UserWarning,
                stacklevel=2,
            )

    def _validate_y(self, y, n_samples):
        """Check partial labels: +1 known normal, -1 known anomaly, 0 unlabeled."""
        return check_partial_labels(y, n_samples)

    def _to_tensor(self, X):
        if not X.flags.writeable:  # torch cannot wrap read-only memory
            X = X.copy()
        return torch.as_tensor(X, dtype=torch.float32, device=self.device_).reshape(
            len(X), *self.input_shape_
        )

    def _split_validation(self, X, y):
        """Hold out ``validation_fraction`` of the rows, drawn at random."""
        if self.validation_fraction is None:
            return (X, y), None
        n_valid = int(round(self.validation_fraction * len(X)))
        if n_valid < 2 or len(X) - n_valid < 2:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves {n_valid} "
                f"validation and {len(X) - n_valid} training samples out of {len(X)}; "
                "both need at least 2."
            )
        perm = torch.randperm(len(X), device=X.device)
        valid, train = perm[:n_valid], perm[n_valid:]
        return (X[train], y[train]), (X[valid], y[valid])

    # ------------------------------------------------------- training glue
    def _train(self, loss_fn, modules, data, *, valid=None, epochs=None, step=None,
               params=None, desc=None, on_epoch_end=None, sample_weights=None,
               lr=None, lr_milestones=None):
        """Train ``modules`` on ``loss_fn`` with this estimator's settings.

        Builds the optimizer (``optimizer``, ``lr``, ``weight_decay``) over
        ``params`` (default: every trainable parameter of ``modules``), the
        learning-rate milestones (x0.1 at each), and runs
        :func:`skdeepad._train.train_loop`.  ``step`` may replace the plain
        gradient step: ``step(optimizer) -> (batch, epoch) -> loss``;
        ``sample_weights`` replaces shuffling by weighted sampling with
        replacement; ``lr`` and ``lr_milestones`` override the parameters of
        those names (for a second task with its own learning rate, or
        milestones resolved at fit time).

        Returns the per-epoch history (list of dicts).
        """
        if params is None:
            params = [p for m in modules for p in m.parameters() if p.requires_grad]
        optimizer = make_optimizer(self.optimizer, params, lr=self.lr if lr is None else lr,
                                   weight_decay=self.weight_decay)
        milestones = list((self.lr_milestones if lr_milestones is None else lr_milestones)
                          or ())
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
        step_fn = (step or (lambda opt: gradient_step(loss_fn, opt)))(optimizer)
        return train_loop(
            step_fn,
            data,
            modules=modules,
            epochs=self.epochs if epochs is None else epochs,
            batch_size=self.batch_size,
            schedulers=[scheduler],
            valid_data=valid,
            valid_loss=loss_fn,
            n_iter_no_change=self.n_iter_no_change,
            verbose=self.verbose,
            desc=desc or type(self).__name__,
            on_epoch_end=on_epoch_end,
            sample_weights=sample_weights,
        )

    def _fitted_modules(self):
        # Fitted attributes only: a module passed as a parameter (``network``)
        # is the user's object and must not be switched to eval mode.
        return [v for k, v in vars(self).items()
                if k.endswith("_") and isinstance(v, torch.nn.Module)]

    def _map_batches(self, fn, X):
        """Apply ``fn`` to ``X`` in evaluation mode, batch by batch, without autograd."""
        for module in self._fitted_modules():
            module.eval()
        with torch.inference_mode():
            return torch.cat([fn(X[a:b]) for a, b in batch_slices(len(X), INFERENCE_BATCH_SIZE)])

    def _check_finite_output(self, out, X, what="scores"):
        """Return ``out`` (one row per row of ``X``) if it is finite, else raise.

        A NaN or infinite output is a :class:`FloatingPointError` naming the
        rows: the network's float32 arithmetic overflowed on them.
        """
        finite = torch.isfinite(out.reshape(len(out), -1)).all(dim=1)
        if not bool(finite.all()):
            bad = torch.nonzero(~finite).flatten()
            largest = float(X[bad].abs().amax())
            raise FloatingPointError(
                f"{type(self).__name__} computed non-finite (NaN or infinite) {what} "
                f"for {len(bad)} of {len(X)} samples (first rows: {bad[:5].tolist()}; "
                f"their largest input magnitude is {largest:.3g}). The network's "
                "float32 arithmetic overflowed: scale the input like the training "
                "data (e.g. StandardScaler in a pipeline); if the model diverged "
                "during fit, refit it with a lower learning rate `lr`."
            )
        return out

    @abstractmethod
    def _fit(self, X, y, valid):
        """Fit the method on tensors ``X`` (on ``device_``) and labels ``y``."""

    # ---------------------------------------------------------- persistence
    def __getstate__(self):
        state = dict(super().__getstate__())
        for key, value in state.items():
            if isinstance(value, torch.nn.Module):
                state[key] = _pack_module(value)
            elif isinstance(value, torch.Tensor):
                state[key] = _PackedTensor(value)
        return state

    def __setstate__(self, state):
        device = state.get("device_")
        if device is not None and device.type == "cuda" and not torch.cuda.is_available():
            warnings.warn(
                f"This {type(self).__name__} was fitted on {device}, which is not "
                "available here; it is loaded on the CPU.",
                UserWarning,
                stacklevel=2,
            )
            state["device_"] = device = torch.device("cpu")
        for key, value in state.items():
            if isinstance(value, (_PackedModule, _PackedTensor)):
                state[key] = value.unpack(device or "cpu")
        super().__setstate__(state)


class BaseDeepDetector(ThresholdMixin, OutlierMixin, BaseDeepEstimator):
    """Base class of the deep anomaly detectors.

    On top of :class:`BaseDeepEstimator`, a detector implements
    ``_score_batch(X) -> Tensor`` (higher = more normal) and may override
    ``_auto_offset`` when its paper defines a natural threshold; ``offset_``
    is set from the training scores at the end of ``fit``.
    """

    _parameter_constraints: dict = {
        **BaseDeepEstimator._parameter_constraints,
        "contamination": [StrOptions({"auto"}), Interval(numbers.Real, 0, 0.5, closed="right")],
    }

    def _after_fit(self, X):
        self.offset_ = self._offset_from(self._score_tensor(X).double().cpu().numpy())

    def _score_tensor(self, X):
        """Scores of a tensor; a NaN or infinite score is a FloatingPointError."""
        return self._check_finite_output(self._map_batches(self._score_batch, X), X)

    @abstractmethod
    def _score_batch(self, X):
        """Normality score of a batch tensor (higher = more normal)."""

    # -------------------------------------------------------------- scoring
    def score_samples(self, X):
        """Normality score of each sample: the higher, the more normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Samples to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Float64 scores; each method's docstring says what they are.  Always
            finite: never NaN, never infinite.

        Raises
        ------
        ValueError
            If ``X`` is invalid (NaN, infinite, too large for float32, wrong
            number of features).
        FloatingPointError
            If the network's float32 arithmetic overflows on some rows (inputs
            far outside the training range, e.g. unscaled data) and would give
            a NaN or infinite score.  An error rather than ``-inf``: a score
            that is not a number cannot be ranked, averaged or thresholded
            honestly, so it is never returned.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._score_tensor(self._to_tensor(X)).double().cpu().numpy()
