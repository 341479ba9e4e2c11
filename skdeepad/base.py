"""Estimator glue shared by every deep detector.

:class:`BaseDeepDetector` owns everything that is not a method's own idea:
parameter and input validation, the ``+1/-1/0`` label convention, devices,
seeding, the validation split, building the optimizer and schedule around the
one training loop (:mod:`skdeepad._train`), batched scoring, the
``contamination -> offset_ -> decision_function/predict`` contract of
:class:`sklearn.ensemble.IsolationForest`, and persistence.  A method
subclass implements its training and :meth:`BaseDeepDetector._score_batch`
and nothing else.  Its training is either the class method
``_fit_stack(stack)``, written once for a stack of ``K >= 1`` members and
run by the one trainer of :mod:`skdeepad._stacked` (a lone ``fit`` is a
stack of one; :func:`skdeepad.fit_stacked` passes several), or, for the
methods that are not stacked (AMA, ADRA, KD), :meth:`BaseDeepEstimator._fit`
with :meth:`BaseDeepEstimator._train` around the same loop.
"""

import contextlib
import copy
import difflib
import inspect
import io
import math
import numbers
import threading
import warnings
from abc import abstractmethod

import numpy as np
import scipy.sparse as sp
import torch
from sklearn import __file__ as sklearn_file
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._train import _OPTIMIZERS, Callback, batch_slices, gradient_step, make_optimizer, train_loop
from .utils._labels import check_partial_labels

__all__ = ["BaseDeepDetector", "BaseDeepEstimator", "ThresholdMixin", "resolve_device"]

#: Rows scored per forward pass at prediction time.
INFERENCE_BATCH_SIZE = 8192

#: Arguments of the optimizer that the estimator sets itself (so that
#: ``optimizer__<arg>`` cannot set them), and from what.
_OPTIMIZER_OWN = {"params": "the networks' weights", "lr": "its parameter `lr`",
                  "weight_decay": "its parameter `weight_decay`"}


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


def caller_stacklevel():
    """The ``stacklevel`` that points a warning at the user's line.

    Counts the frames up to the first one outside this package and
    scikit-learn's wrappers (``_fit_context``), so that warnings raised deep
    in a fit -- lone, stacked or inside a pipeline -- name the call that
    caused them.
    """
    import os
    import sys

    inside = (os.path.dirname(__file__), os.path.dirname(sklearn_file), contextlib.__file__)
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def user_network(network, input_shape, device):
    """A fresh copy of a user-supplied module (or the module a callable builds).

    The user's own object is never trained in place.
    """
    if isinstance(network, torch.nn.Module):
        module = copy.deepcopy(network)
    else:
        module = network(tuple(input_shape))
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                "network must be a torch.nn.Module or a callable returning one from "
                f"the input shape; the callable returned {type(module).__name__}."
            )
    return module.to(device)


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
        "callbacks": [list, tuple, None],
    }

    # -------------------------------------------------------------- routing
    #: Prefixes of routed arguments, as in skorch: ``optimizer__<arg>`` goes
    #: to the optimizer's constructor, ``network__<arg>`` to the method's
    #: default network builder.  A method whose default networks take no
    #: such argument leaves ``"network"`` out, and then refuses it.
    _routed_prefixes = ("optimizer", "network")

    #: A method's own defaults of optimizer arguments, per optimizer class,
    #: e.g. ``{torch.optim.SGD: {"momentum": 0.9}}``.  They apply only when
    #: that optimizer is used, and ``optimizer__<arg>`` overrides them.
    _optimizer_defaults: dict = {}

    def _set_routed(self, kwargs):
        """Keep the keyword arguments given to ``__init__`` as ``**kwargs``.

        They are stored as given, under their full names
        (``optimizer__momentum``), in the private dict ``_routed_params``,
        which ``get_params``, ``set_params`` and
        :func:`sklearn.base.clone` treat as parameters.  As scikit-learn
        asks, ``__init__`` validates nothing: a name that is not routed
        (``optimiser__momentum``) is refused by ``fit``, with a guess of
        what was meant (and at once by ``set_params``).
        """
        self._routed_params = dict(kwargs)

    def _is_routed(self, key):
        prefix, sep, arg = key.partition("__")
        return bool(sep and arg) and prefix in self._routed_prefixes

    def _routing_hint(self, key):
        """Which prefixes this estimator routes, and what ``key`` probably meant."""
        targets = {"optimizer": "the optimizer", "network": "the default network builder"}
        routes = " and ".join(f"'{p}__<arg>' to {targets[p]}" for p in self._routed_prefixes)
        hint = f"{type(self).__name__} routes {routes} (e.g. optimizer__momentum=0.9)."
        head = key.partition("__")[0]
        if "__" in key and head in targets and head not in self._routed_prefixes:
            hint += (f" It takes no '{head}__' arguments: its default networks are "
                     "configured by its own parameters.")
        guess = self._guess_parameter(key)
        return hint + (f" Did you mean {guess!r}?" if guess else "")

    def _guess_parameter(self, key):
        """The routed name or parameter closest to a misspelled ``key`` (or None)."""
        head, sep, rest = key.partition("__")
        if sep and rest:  # a misspelled prefix: optimiser__momentum
            close = difflib.get_close_matches(head, self._routed_prefixes, n=1, cutoff=0.6)
            if close:
                return f"{close[0]}__{rest}"
        for prefix in self._routed_prefixes:  # one underscore: optimizer_momentum
            rest = key[len(prefix) + 1:].lstrip("_")
            similar = difflib.SequenceMatcher(None, key[:len(prefix)], prefix).ratio() >= 0.8
            if key[len(prefix):len(prefix) + 1] == "_" and rest and similar:
                return f"{prefix}__{rest}"
        close = difflib.get_close_matches(key, self._get_param_names(), n=1)
        return close[0] if close else None

    def _routed(self, prefix):
        """The routed arguments of ``prefix``, without it.

        ``self._routed("optimizer")`` is ``{"momentum": 0.9}`` for
        ``optimizer__momentum=0.9``.  For ``"optimizer"``, the method's
        ``_optimizer_defaults`` for the chosen optimizer come first and the
        user's values override them.
        """
        start = prefix + "__"
        values = {}
        if prefix == "optimizer":
            values.update(self._optimizer_defaults.get(self._optimizer_class(), {}))
        values.update((key[len(start):], value) for key, value in self._kwargs().items()
                      if key.startswith(start) and self._is_routed(key))
        return values

    def _kwargs(self):
        # An estimator whose __init__ predates routing has no _routed_params.
        return vars(self).get("_routed_params", {})

    def _check_routed_names(self):
        """Refuse a keyword argument of ``__init__`` that is not routed (at fit)."""
        for key in self._kwargs():
            if not self._is_routed(key):
                raise InvalidParameterError(
                    f"{type(self).__name__}() got an unexpected keyword argument "
                    f"{key!r}. {self._routing_hint(key)}"
                )

    def _optimizer_class(self):
        return _OPTIMIZERS[self.optimizer] if isinstance(self.optimizer, str) else self.optimizer

    def _checked_routed(self, prefix, target, own=None):
        """``self._routed(prefix)``, once ``target`` is known to accept each argument.

        Parameters
        ----------
        prefix : {"optimizer", "network"}
        target : callable
            What the arguments are passed to: the optimizer class, the
            method's network builder.
        own : dict, default=None
            Arguments of ``target`` that the estimator sets itself, mapped to
            what sets them (e.g. ``{"lr": "its parameter `lr`"}``); routing
            one of them is an error.

        Raises
        ------
        InvalidParameterError
            (a ``ValueError`` and a ``TypeError``) naming the argument and
            ``target``, with the arguments ``target`` accepts.
        """
        routed, own = self._routed(prefix), own or {}
        name = getattr(target, "__qualname__", repr(target))
        params = inspect.signature(target).parameters.values()
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
        accepted = [p.name for p in params if p.name not in own
                    and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        for arg in routed:
            if arg in own:
                raise InvalidParameterError(
                    f"{prefix}__{arg}: {type(self).__name__} sets the argument {arg!r} "
                    f"of {name} itself, from {own[arg]}; set that instead."
                )
            if not takes_any and arg not in accepted:
                close = difflib.get_close_matches(arg, accepted, n=1)
                raise InvalidParameterError(
                    f"{prefix}__{arg}: {name} takes no argument {arg!r}; the arguments "
                    f"that can be routed to it are {', '.join(accepted) or 'none'}."
                    + (f" Did you mean '{prefix}__{close[0]}'?" if close else "")
                )
        return routed

    def get_params(self, deep=True):
        """Get the parameters of this estimator, routed arguments included.

        Parameters
        ----------
        deep : bool, default=True
            If True, also return the parameters of contained estimators.

        Returns
        -------
        params : dict
            Parameter names mapped to their values; routed arguments appear
            under their full name, e.g. ``optimizer__momentum``.
        """
        params = super().get_params(deep=deep)
        params.update(self._kwargs())
        return params

    def set_params(self, **params):
        """Set the parameters of this estimator, routed arguments included.

        ``optimizer__<arg>`` and ``network__<arg>`` are routed arguments
        (not scikit-learn's nested-estimator parameters), so
        ``GridSearchCV(det, {"optimizer__momentum": [0.5, 0.9]})`` works.
        A name that ``__init__`` was given is accepted again (``fit``
        refuses it if it is not routed).

        Parameters
        ----------
        **params : dict
            Parameters and routed arguments.

        Returns
        -------
        self : estimator instance

        Raises
        ------
        InvalidParameterError
            (a ``ValueError``) for a name that is neither a parameter nor a
            routed argument, with the valid prefixes and a guess.
        """
        kwargs = {key: value for key, value in params.items()
                  if self._is_routed(key) or key in self._kwargs()}
        own = {key: value for key, value in params.items() if key not in kwargs}
        valid = self._get_param_names()
        for key in own:
            head, nested, _ = key.partition("__")
            # A nested name must reach an estimator (e.g. a backbone with set_params).
            if head not in valid or (nested and not hasattr(getattr(self, head), "set_params")):
                raise InvalidParameterError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                    f"{self._routing_hint(key)}"
                )
        super().set_params(**own)
        if kwargs:
            self._routed_params = {**self._kwargs(), **kwargs}
        return self

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
            if hasattr(type(self), "_fit_stack"):  # the method runs on the one trainer
                from ._stacked import fit_members

                fit_members([self], X, y)
                return self
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
        """Checks that ``_parameter_constraints`` cannot express.

        A method without ``hidden_layer_sizes`` (ADRA: the backbone sets the
        architecture) skips its check; a string ``lr_milestones`` (DROCC's
        ``"auto"``) was validated by the method's own constraint.  Routed
        optimizer arguments are checked against the optimizer's signature
        here, before any training.
        """
        sizes = getattr(self, "hidden_layer_sizes", "auto")
        if not isinstance(sizes, str):
            _check_positive_ints("hidden_layer_sizes", sizes)
        if self.lr_milestones is not None and not isinstance(self.lr_milestones, str):
            _check_positive_ints("lr_milestones", self.lr_milestones, allow_empty=True)
        self._check_routed_names()
        self._checked_routed("optimizer", self._optimizer_class(), _OPTIMIZER_OWN)
        if self.input_shape is not None:
            _check_positive_ints("input_shape", self.input_shape)
        if self.n_iter_no_change is not None and self.validation_fraction is None:
            raise ValueError(
                "n_iter_no_change requires a held-out set: set validation_fraction "
                "(e.g. 0.1) as well, or n_iter_no_change=None."
            )
        for i, cb in enumerate(self.callbacks or ()):
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks[{i}] is a {type(cb).__name__}; callbacks must be instances of "
                    "skdeepad.callbacks.Callback (subclass it and override the hooks you need).")

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
                stacklevel=caller_stacklevel(),
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

        Builds the optimizer (``optimizer``, ``lr``, ``weight_decay`` and the
        routed ``optimizer__<arg>`` arguments) over
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
                                   weight_decay=self.weight_decay, **self._routed("optimizer"))
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
            callbacks=self.callbacks or (),
        )

    def _user_network(self):
        """A fresh copy of the ``network`` parameter (or the module it builds)."""
        return user_network(self.network, self.input_shape_, self.device_)

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

    def _fit(self, X, y, valid):
        """Fit the method on tensors ``X`` (on ``device_``) and labels ``y``.

        Methods that train on the one trainer of :mod:`skdeepad._stacked`
        define the class method ``_fit_stack(stack)`` instead.
        """
        raise NotImplementedError

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
