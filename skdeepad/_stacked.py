"""Stacked training: many fits of one architecture in a single training loop.

Users fit the same small network many times: a paper's table is a mean over
seeds, a seed ensemble is the simplest cure for Deep SAD's seed-to-seed
spread, a grid search refits the network for every candidate and fold.  An
epoch of the package's tabular MLPs is bound by per-batch overhead (Python,
autograd, optimizer launches), not arithmetic, so ``K`` models whose weights
are stacked on a leading axis -- batched matrix products, BatchNorm computed
per model over that model's own batch, one optimizer over the stacked
tensors -- cost far less than ``K`` fits one after another.

:func:`fit_stacked` does this while keeping every model *the same
estimator it would have been alone*:

* **Randomness.**  Each member draws exactly what its lone fit draws, in the
  same order: its ``random_state`` gives the seed of
  :meth:`BaseDeepEstimator.fit <skdeepad.base.BaseDeepEstimator.fit>`, under
  which its networks are built (same initial weights); the RNG state after
  that becomes the member's own :class:`torch.Generator`, which then draws
  its pretraining and training batch orders epoch by epoch.
* **Optimisation.**  Adam, AdamW, SGD and RMSprop act elementwise, so one
  optimizer over a ``(K, out, in)`` tensor is ``K`` optimizers over its
  slices.  Members that differ in ``optimizer``, ``lr``, ``weight_decay`` or
  ``lr_milestones`` get their own stacked tensors and optimizer (one per
  distinct setting), concatenated in the forward pass; ``eta``, ``nu``,
  ``sampling``, ``contamination`` and ``random_state`` may differ freely.
* **Everything else** -- the centre ``c``, the soft-boundary radius, the
  collapse warning, ``offset_`` -- is computed per member by the estimator's
  own code on its own (unstacked) network, so a stacked member pickles,
  scores and predicts exactly like a lone fit: the returned estimators are
  ordinary instances of their classes.

Numerically, every stacked operation runs the very kernel a lone model's
operation runs, on the same shapes: ``x @ W^T`` per model as a batched
product (and ``F.linear`` per model for the tiny last batch, where
``torch.bmm`` would leave BLAS), BatchNorm on a ``(B, K * C)`` view, and
elementwise functions with vectorised/scalar code paths (the sigmoid, the
losses) walked model by model (:func:`_rowwise`).  On the CPU (torch 2.13,
MKL) a stacked member's weights and scores are therefore those of its lone
fit to float32 rounding, and often bit for bit (AutoEncoder, Deep SVDD and
Deep SAD over the paper's full 150 + 150 epochs on ODDS cardio were, with
batches of 200).  Two sources of last-bit differences remain: for some
batch lengths the BLAS library blocks a batched product's backward pass
differently from a lone product's, and the gradient of Deep SAD's
labeled-anomaly term ``(d + eps) ** -1`` goes through ``pow`` on all
models' rows at once, where a lone fit may take the scalar tail of the
vectorised loop.  Either is a last-place difference that the following
epochs carry along without growing beyond rounding (same AUC).
The tolerance documented and tested is 1e-5 relative.  The per-epoch losses in
``history_`` are reduced per model in one call and may differ from a lone
fit's in the last bit.  On a GPU, cuBLAS and cuDNN choose their own
algorithms, and agreement is to float rounding, not bits.  The data tensor
is held once; each batch gathers the ``K`` members' rows from it (with
``per_estimator=True`` each member's own set is held once).
"""

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import vmap

from ._autoencoder import AutoEncoder, AutoEncoderFeatures, build_autoencoder, reconstruction_error
from ._deep_sad import (
    SOFT_BOUNDARY_WARM_UP_EPOCHS,
    DeepSAD,
    DeepSVDD,
    deep_sad_loss,
    init_center,
    one_class_loss,
    soft_boundary_loss,
    squared_distance,
)
from ._train import _OPTIMIZERS, make_optimizer, train_loop
from .base import _restored_on_failure, _seeded
from .networks import MLP, MLPDecoder

__all__ = ["fit_stacked", "StackedMLP", "StackedFallbackWarning", "structure_key"]

#: Parameters that fix the tensors' shapes or the loop's structure: every
#: member of one stack must agree on them.
SHAPE_PARAMS = (
    "hidden_layer_sizes",
    "network",
    "input_shape",
    "batch_size",
    "epochs",
    "pretrain",
    "pretrain_epochs",
    "objective",
    "device",
    "validation_fraction",
    "n_iter_no_change",
)

#: torch.bmm multiplies in its own loop, not BLAS, when
#: ``rows * contraction * columns`` is below this (ATen's ``bmm_out_or_baddbmm_``).
_BMM_NAIVE_BELOW = 400

_STACKABLE = (AutoEncoder, AutoEncoderFeatures, DeepSVDD, DeepSAD)

#: Optimizers whose update is elementwise (one over stacked tensors = K over slices).
_ELEMENTWISE_OPTIMIZERS = frozenset(_OPTIMIZERS) | frozenset(_OPTIMIZERS.values())


class StackedFallbackWarning(UserWarning):
    """Estimators that cannot be stacked were fitted one after another."""


# ----------------------------------------------------------------- modules
class StackedMLP(nn.Module):
    """``K`` bias-free MLPs of one architecture evaluated as one module.

    Built from ``K`` :class:`~skdeepad.networks.MLP` encoders (or
    :class:`~skdeepad.networks.MLPDecoder` decoders) of identical shapes.
    Each linear layer's weights are stacked into ``(K, out, in)`` tensors
    and applied with one batched matrix product; each BatchNorm normalises
    every model's channels over that model's own batch (one
    :func:`torch.nn.functional.batch_norm` over ``K * C`` channels), with
    per-model running statistics.  The products are ``x @ W^T`` per model
    and BatchNorm runs on a ``(B, K * C)`` view, the very kernels a lone
    model uses, so a stacked model rounds like a lone one.

    Parameters
    ----------
    modules : list of MLP or MLPDecoder
        The models, all of the same type and shapes.
    groups : list of int, default=None
        Sizes of consecutive runs of models that get their own leaf tensors
        (one optimizer per run); ``None`` means one run of all ``K``.

    Notes
    -----
    The module only trains: it is always in batch-statistics mode.  Use
    :meth:`unstack_into` to write the weights and statistics back into
    ordinary modules for evaluation.
    """

    def __init__(self, modules, groups=None):
        super().__init__()
        specs = [_mlp_spec(m) for m in modules]
        if any(s is None for s in specs) or any(s[0] != specs[0][0] for s in specs):
            raise ValueError("StackedMLP needs MLP or MLPDecoder modules of identical shapes.")
        self.n_models = len(modules)
        self.groups = list(groups or [self.n_models])
        self._layers = specs[0][0]
        self._sigmoid = specs[0][0][-1][-1]
        linears = [s[1] for s in specs]
        norms = [s[2] for s in specs]
        self.weights = nn.ParameterList()
        bounds = np.cumsum([0, *self.groups])
        for g in range(len(self.groups)):
            for layer in range(len(self._layers)):
                members = range(bounds[g], bounds[g + 1])
                self.weights.append(nn.Parameter(torch.stack(
                    [linears[k][layer].weight.detach() for k in members]).clone()))
        self._n_norms = len(norms[0])
        for i in range(self._n_norms):
            self.register_buffer(f"running_mean{i}", torch.cat(
                [n[i].running_mean for n in norms]).clone())
            self.register_buffer(f"running_var{i}", torch.cat(
                [n[i].running_var for n in norms]).clone())
        self._bn = [(n.momentum, n.eps) for n in norms[0]]
        self.n_batches = 0

    def group_parameters(self, group):
        """The leaf tensors of run ``group`` (give them to one optimizer)."""
        n = len(self._layers)
        return list(self.weights[group * n:(group + 1) * n])

    def _weight(self, layer):
        n = len(self._layers)
        parts = [self.weights[g * n + layer] for g in range(len(self.groups))]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def forward(self, x):
        """``(K, B, ...)`` inputs -> ``(K, B, C_out)`` outputs (possibly a strided view)."""
        K, B = x.shape[:2]
        h = x.reshape(K, B, -1)
        norm = 0
        for layer, (_, _, has_bn, slope, _) in enumerate(self._layers):
            weight = self._weight(layer)
            if h.shape[1] * weight.shape[1] * weight.shape[2] < _BMM_NAIVE_BELOW:
                # Tiny products (an epoch's last few rows): torch.bmm switches to its
                # own loop, which rounds unlike the BLAS call of a lone F.linear.
                h = torch.stack([F.linear(h[k], weight[k]) for k in range(K)])
            else:
                # x @ W^T per model, the very product F.linear computes for one model.
                h = torch.bmm(h, weight.transpose(1, 2))
            if has_bn:
                # (B, K * C): each model's channels normalised over its own batch,
                # with the kernel (and summation order) of a lone model's BatchNorm.
                momentum, eps = self._bn[norm]
                C = h.shape[2]
                h = F.batch_norm(h.transpose(0, 1).reshape(B, K * C),
                                 getattr(self, f"running_mean{norm}"),
                                 getattr(self, f"running_var{norm}"), training=True,
                                 momentum=momentum, eps=eps).view(B, K, C).transpose(0, 1)
                norm += 1
            if slope is not None:
                h = F.leaky_relu(h, slope)
        if self._sigmoid:
            h = torch.sigmoid(_rowwise(h))
        self.n_batches += 1
        return h

    @torch.no_grad()
    def unstack_into(self, modules):
        """Copy model ``k``'s weights and BatchNorm statistics into ``modules[k]``."""
        K = self.n_models
        for k, module in enumerate(modules):
            _, linears, norms = _mlp_spec(module)
            for layer, linear in enumerate(linears):
                linear.weight.copy_(self._weight(layer)[k])
            for i, bn in enumerate(norms):
                bn.running_mean.copy_(getattr(self, f"running_mean{i}").view(K, -1)[k])
                bn.running_var.copy_(getattr(self, f"running_var{i}").view(K, -1)[k])
                bn.num_batches_tracked += self.n_batches


def _rowwise(t):
    """``t`` (``(K, ...)``) as a view whose rows are one element apart in memory.

    Elementwise kernels vectorise along contiguous memory and finish the tail
    with scalar code; transcendental functions (``exp`` in a sigmoid, ``pow``)
    round differently on the two paths.  On this layout a kernel cannot merge
    the models into one run and walks each model's block from its start,
    exactly as for a lone model, so every element takes the same path.
    """
    flat = t.reshape(len(t), -1)
    n = flat.shape[1]
    return F.pad(flat, (0, 1))[:, :n].unflatten(1, t.shape[1:])


def _mlp_spec(module):
    """``(layout, linears, norms)`` of a default MLP/MLPDecoder, or None.

    ``layout`` holds one ``(in, out, has_bn, slope, sigmoid_after)`` per
    linear layer and is what two stackable modules must share.
    """
    if type(module) not in (MLP, MLPDecoder):
        return None
    layout, linears, norms = [], [], []
    for layer in module.net:
        if isinstance(layer, nn.Flatten):
            continue
        if isinstance(layer, nn.Linear) and layer.bias is None:
            linears.append(layer)
            layout.append([layer.in_features, layer.out_features, False, None, False])
        elif isinstance(layer, nn.BatchNorm1d) and layout and not layer.affine \
                and layer.track_running_stats and layer.momentum is not None:
            norms.append(layer)
            layout[-1][2] = True
        elif isinstance(layer, nn.LeakyReLU) and layout:
            layout[-1][3] = layer.negative_slope
        elif isinstance(layer, nn.Sigmoid) and layout:
            layout[-1][4] = True
        else:
            return None
    return tuple(tuple(v) for v in layout), linears, norms


class _StackedAutoEncoder(nn.Module):
    """Stacked encoders followed by stacked decoders, ``(K, B, ...) -> (K, B, d)``."""

    def __init__(self, autoencoders, groups):
        super().__init__()
        self.encoder = StackedMLP([a.encoder for a in autoencoders], groups)
        self.decoder = StackedMLP([a.decoder for a in autoencoders], groups)

    def group_parameters(self, group):
        return self.encoder.group_parameters(group) + self.decoder.group_parameters(group)

    def forward(self, x):
        return self.decoder(self.encoder(x))


# -------------------------------------------------------------- the fit
def structure_key(estimator):
    """The values of :data:`SHAPE_PARAMS` an estimator has, as a hashable key.

    Estimators can share one stack only if their classes and keys are equal.
    """
    params = estimator.get_params(deep=False)
    key = [type(estimator)]
    for name in SHAPE_PARAMS:
        if name in params:
            value = params[name]
            if isinstance(value, torch.device):
                value = str(value)
            elif isinstance(value, (list, tuple, np.ndarray)):
                value = tuple(np.asarray(value).tolist())
            elif not isinstance(value, (str, int, float, bool, type(None))):
                value = ("id", id(value))  # modules, callables, devices: by identity
            key.append((name, value))
    return tuple(key)


def _check_same_structure(estimators):
    first = estimators[0]
    for est in estimators[1:]:
        if type(est) is not type(first):
            raise ValueError(
                "fit_stacked needs estimators of one class; got "
                f"{type(first).__name__} and {type(est).__name__}."
            )
    keys = [dict(structure_key(est)[1:]) for est in estimators]
    for name in keys[0]:
        values = {repr(k[name]) for k in keys}
        if len(values) > 1:
            shown = [getattr(est, name) for est in estimators]
            raise ValueError(
                f"fit_stacked needs every estimator to have the same {name!r} (it fixes "
                f"the networks' shapes or the training loop); got {shown[:6]}"
                f"{' ...' if len(shown) > 6 else ''}. Fit groups of equal {name!r} "
                "separately (StackedSearchCV does this for you)."
            )


def _why_not_stackable(est):
    """Why ``est`` must be fitted on its own, or None (before validation)."""
    if type(est) not in _STACKABLE:
        return f"{type(est).__name__} has no stacked implementation"
    if est.network is not None:
        return "a custom `network` cannot be stacked"
    if est.validation_fraction is not None or est.n_iter_no_change is not None:
        return ("validation_fraction / n_iter_no_change (a member-specific held-out "
                "split and early stopping) are not stacked")
    if est.optimizer not in _ELEMENTWISE_OPTIMIZERS:
        return f"optimizer {est.optimizer!r} is not known to act elementwise"
    return None


def _fit_sequentially(estimators, X, y, reason, per_estimator=False):
    warnings.warn(
        f"fit_stacked: {reason}; the {len(estimators)} estimators are fitted one after "
        "another (same results, no speed-up).",
        StackedFallbackWarning,
        stacklevel=3,
    )
    if not per_estimator:
        X, y = [X] * len(estimators), [y] * len(estimators)
    for est, X_k, y_k in zip(estimators, X, y):
        if y_k is None:
            est.fit(X_k)
        else:
            est.fit(X_k, y_k)
    return estimators


def fit_stacked(estimators, X, y=None, *, per_estimator=False):
    """Fit several estimators of one architecture on the same data in one loop.

    Each estimator ends up exactly as ``estimator.fit(X, y)`` would leave it
    (same initial weights from its own ``random_state``, same batch order,
    same pretraining, centre and offset; on the CPU the same weights and
    scores, bit for bit in our tests except for Deep SAD's labeled-anomaly
    term (see Notes), and within 1e-5 relative as tested),
    but the ``K`` networks are trained together, their weights
    stacked on a leading axis: one batched forward/backward pass and one
    optimizer step per batch for all of them.  For small tabular networks
    this is several times faster than ``K`` fits one after another.

    Stacked: :class:`~skdeepad.DeepSVDD` (one-class and soft-boundary),
    :class:`~skdeepad.DeepSAD` (autoencoder pretraining included),
    :class:`~skdeepad.AutoEncoder` and :class:`~skdeepad.AutoEncoderFeatures`
    with their default MLP networks.  Anything else (another class, a custom
    ``network``, the LeNet CNNs of image inputs, early stopping) is fitted
    one estimator after another, with a :class:`StackedFallbackWarning`.

    Parameters
    ----------
    estimators : list of estimators
        Unfitted or fitted estimators of one class; they are fitted in place.
        They must agree on every parameter that fixes the networks' shapes or
        the loop (``hidden_layer_sizes``, ``network``, ``input_shape``,
        ``batch_size``, ``epochs``, ``pretrain``, ``pretrain_epochs``,
        ``objective``, ``device``, ``validation_fraction``,
        ``n_iter_no_change``); they may differ in ``random_state``, ``lr``,
        ``weight_decay``, ``lr_milestones``, ``optimizer``, ``eta``, ``nu``,
        ``sampling`` and ``contamination``.
    X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
        Training data, as for ``fit``.  It is validated once per estimator
        but held on the device only once.
    y : array-like of shape (n_samples,), default=None
        Partial labels (+1 known normal, -1 known anomaly, 0 unlabeled),
        as for ``fit``.
    per_estimator : bool, default=False
        If True, ``X`` and ``y`` are sequences holding one training set per
        estimator, all of one shape (and with equally many known anomalies
        where the method drops them), e.g. the seeds' splits of a benchmark
        protocol.  Each member then trains on its own rows; the sets are
        held once each.

    Returns
    -------
    estimators : list of estimators
        The same objects, fitted.  ``history_`` (and ``pretrain_history_``)
        hold each member's own losses and learning rates; ``dur`` is the
        duration of the whole stacked epoch.

    Raises
    ------
    ValueError
        If the estimators are of different classes, or differ in a
        parameter listed above (the message names it).

    Like ``fit``, the whole call is atomic: if it raises anything (a
    diverged member, ``KeyboardInterrupt``), every estimator is left exactly
    as it was before the call.

    See Also
    --------
    skdeepad.ensemble.StackedEnsemble : A seed ensemble fitted as one stack.
    skdeepad.model_selection.StackedSearchCV : Grid search with stacked candidates.

    Notes
    -----
    Members with different ``optimizer``/``lr``/``weight_decay``/
    ``lr_milestones`` are trained in the same loop but get separate leaf
    tensors and optimizers (the forward pass concatenates them); the
    speed-up is largest when those are shared, as in a seed ensemble.
    Weights and optimizer states are ``K``-fold; the data are not copied.

    Every stacked operation runs the kernel a lone fit runs on the same
    shapes (per-model ``x @ W^T`` products, BatchNorm on a ``(B, K * C)``
    view, elementwise functions walked model by model), so on the CPU a
    member's weights are its lone fit's to float32 rounding (1e-5 relative
    is the documented and tested tolerance), often bit for bit; the
    per-epoch losses in ``history_`` may differ in the last bit.  On a GPU
    agreement is to float rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import DeepSVDD, fit_stacked
    >>> X = np.random.RandomState(0).rand(200, 5)
    >>> models = fit_stacked([DeepSVDD(epochs=3, pretrain_epochs=3, device="cpu",
    ...                                random_state=seed) for seed in range(4)], X)
    >>> lone = DeepSVDD(epochs=3, pretrain_epochs=3, device="cpu", random_state=2).fit(X)
    >>> bool(np.allclose(models[2].score_samples(X), lone.score_samples(X), rtol=1e-4))
    True
    """
    estimators = list(estimators)
    with _restored_on_failure(*estimators):  # all fitted, or all as they were
        return _fit_stacked(estimators, X, y, per_estimator)


def _fit_stacked(estimators, X, y, per_estimator):
    if not estimators:
        raise ValueError("fit_stacked needs at least one estimator; got an empty list.")
    _check_same_structure(estimators)
    if per_estimator:
        X = list(X)
        y = [None] * len(X) if y is None else list(y)
        if len(X) != len(estimators) or len(y) != len(estimators):
            raise ValueError(
                f"With per_estimator=True, X and y need one entry per estimator "
                f"({len(estimators)}); got {len(X)} and {len(y)}.")
    if len(estimators) == 1:  # nothing to stack: the lone fit is the same, and leaner
        X_0, y_0 = (X[0], y[0]) if per_estimator else (X, y)
        return [estimators[0].fit(X_0) if y_0 is None else estimators[0].fit(X_0, y_0)]
    reason = _why_not_stackable(estimators[0])
    if reason is not None:
        return _fit_sequentially(estimators, X, y, reason, per_estimator)
    if per_estimator:
        prepared = [_prepare(est, X_k, y_k) for est, X_k, y_k in zip(estimators, X, y)]
        shapes = {p[0].shape for p in prepared}
        if len(shapes) > 1:
            raise ValueError(
                "With per_estimator=True every estimator's X must have the same shape; got "
                f"{sorted(shapes)}.")
    else:
        prepared = [_prepare(est, X, y) for est in estimators]
    devices = {str(est.device_) for est in estimators}
    if len(devices) > 1:
        raise ValueError(f"fit_stacked needs one device for all estimators; got {sorted(devices)}.")
    if _uses_cnn(estimators[0]):
        return _fit_sequentially(estimators, X, y, "the LeNet CNNs of image inputs are not stacked",
                                 per_estimator)
    first = estimators[0]
    if per_estimator:
        tensors = [(est._to_tensor(p[0]), torch.as_tensor(p[1], device=est.device_))
                   for est, p in zip(estimators, prepared)]
    else:  # one copy of the data, shared by every member
        tensors = [(first._to_tensor(prepared[0][0]),
                    torch.as_tensor(prepared[0][1], device=first.device_))] * len(estimators)
    # Members that share optimizer settings share leaf tensors: order them by group.
    keys = [_optimizer_key(est) for est in estimators]
    order = sorted(range(len(estimators)), key=lambda k: list(dict.fromkeys(keys)).index(keys[k]))
    members = [estimators[k] for k in order]
    seeds = [prepared[k][2] for k in order]
    data = _MemberData([tensors[k] for k in order], shared=not per_estimator)
    groups = [sum(1 for k in keys if k == key) for key in dict.fromkeys(keys)]
    if isinstance(first, (AutoEncoder, AutoEncoderFeatures)):
        _fit_autoencoders(members, seeds, groups, data)
    else:
        _fit_hyperspheres(members, seeds, groups, data)
    return estimators


class _MemberData:
    """Each member's training tensors, held once when the members share them.

    ``rows(select)`` applies ``select(X, y) -> tuple of tensors`` per member
    (once when shared) and returns the members' tensors together with the
    tensors the training loop iterates over and the offset of each member's
    rows in them (``None`` when shared: the rows are the same for all).
    """

    def __init__(self, tensors, shared):
        self.tensors, self.shared = tensors, shared

    def rows(self, select):
        if self.shared:
            picked = select(*self.tensors[0])
            return [picked] * len(self.tensors), picked, None
        picked = [select(X, y) for X, y in self.tensors]
        sizes = {len(p[0]) for p in picked}
        if len(sizes) > 1:
            raise ValueError(
                "With per_estimator=True the estimators must train on equally many rows; "
                f"after dropping known anomalies they have {sorted(sizes)}.")
        n = sizes.pop()
        loop = tuple(torch.cat(parts) for parts in zip(*picked))
        offsets = torch.arange(len(picked), device=loop[0].device)[:, None] * n
        return picked, loop, offsets


def _prepare(est, X, y):
    """What ``BaseDeepEstimator.fit`` does before seeding, for one member:
    ``(X, y, seed)``, with ``est.device_`` set."""
    est._validate_params()
    return est._prepare_fit(X, y)


def _uses_cnn(est):
    from .networks import _LENETS

    return tuple(est.input_shape_) in _LENETS and isinstance(est.hidden_layer_sizes, str)


def _optimizer_key(est):
    milestones = tuple(int(m) for m in (est.lr_milestones or ()))
    return (est.optimizer, float(est.lr), float(est.weight_decay), milestones)


def _build_members(members, seeds, X_fits):
    """Each member's autoencoder, built under its own seed, and its generator.

    The generator continues the member's RNG stream where its lone fit would
    continue it after building the networks (for the batch orders).
    """
    autoencoders, generators = [], []
    for est, seed, X_fit in zip(members, seeds, X_fits):
        with _seeded(seed, est.device_):
            autoencoder, est.hidden_layer_sizes_ = build_autoencoder(est, X_fit)
            generator = torch.Generator(device=est.device_)
            if est.device_.type == "cuda":
                generator.set_state(torch.cuda.get_rng_state(est.device_))
            else:
                generator.set_state(torch.get_rng_state())
        autoencoders.append(autoencoder)
        generators.append(generator)
    return autoencoders, generators


def _drawer(generators, n, device, weights=None, offsets=None):
    """``draw(epoch) -> (K, n)``: every member's own permutation (or weighted draw),
    shifted by ``offsets`` (``(K, 1)``) when the members' rows lie one after another."""
    weights = weights or [None] * len(generators)

    def draw(epoch):
        index = torch.stack([
            torch.randperm(n, device=device, generator=g) if w is None
            else torch.multinomial(w, n, replacement=True, generator=g)
            for g, w in zip(generators, weights)
        ])
        return index if offsets is None else index + offsets

    return draw


def _train_stacked(members, groups, module, objective, data, draw, *, epochs, desc,
                   after_step=None):
    """Run the one training loop over a stacked module, one optimizer per group.

    ``objective(*batch) -> (losses of shape (K,), extra)``; ``after_step(extra,
    epoch)`` runs after the optimizer steps.  Returns each member's history.
    """
    bounds = np.cumsum([0, *groups])
    optimizers, schedulers = [], []
    for g in range(len(groups)):
        est = members[bounds[g]]
        opt = make_optimizer(est.optimizer, module.group_parameters(g), lr=est.lr,
                             weight_decay=est.weight_decay)
        optimizers.append(opt)
        schedulers.append(torch.optim.lr_scheduler.MultiStepLR(
            opt, list(est.lr_milestones or ()), gamma=0.1))
    lrs = {}

    def step(batch, epoch):
        if epoch not in lrs:  # the learning rate each group trains this epoch with
            lrs[epoch] = [opt.param_groups[0]["lr"] for opt in optimizers]
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        losses, extra = objective(*batch)
        losses.sum().backward()  # members are independent: each gets its own gradient
        for opt in optimizers:
            opt.step()
        if after_step is not None:
            after_step(extra, epoch)
        return losses.detach()

    history = train_loop(step, data, modules=[module], epochs=epochs,
                         batch_size=members[0].batch_size, schedulers=schedulers,
                         verbose=max(int(est.verbose) for est in members), desc=desc,
                         draw=draw)
    group_of = np.repeat(np.arange(len(groups)), groups)
    return [[{"epoch": r["epoch"], "train_loss": r["train_loss"][k],
              "lr": lrs[r["epoch"] - 1][group_of[k]], "dur": r["dur"]} for r in history]
            for k in range(len(members))]


def _reconstruction_objective(autoencoder):
    per_model = vmap(reconstruction_error)

    def objective(x):
        error = per_model(autoencoder(x).contiguous(), x.flatten(2))
        return _rowwise(error).mean(dim=1), None

    return objective


def _pretrain(members, groups, autoencoders, generators, X_loop, offsets, epochs, desc):
    """Stacked autoencoder training on ``X_loop``; returns each member's history."""
    stacked = _StackedAutoEncoder(autoencoders, groups)
    n = len(X_loop) // len(members) if offsets is not None else len(X_loop)
    history = _train_stacked(members, groups, stacked, _reconstruction_objective(stacked),
                             (X_loop,), _drawer(generators, n, X_loop.device, offsets=offsets),
                             epochs=epochs, desc=desc)
    stacked.encoder.unstack_into([a.encoder for a in autoencoders])
    stacked.decoder.unstack_into([a.decoder for a in autoencoders])
    return history


def _fit_autoencoders(members, seeds, groups, data):
    """AutoEncoder / AutoEncoderFeatures: ``_fit_without_known_anomalies``, stacked."""
    fits, (X_loop,), offsets = data.rows(lambda X, y: (X[y != -1],))
    X_fits = [f[0] for f in fits]
    autoencoders, generators = _build_members(members, seeds, X_fits)
    histories = _pretrain(members, groups, autoencoders, generators, X_loop, offsets,
                          members[0].epochs, f"{type(members[0]).__name__} x{len(members)}")
    for est, autoencoder, history, X_fit, (X_t, _) in zip(members, autoencoders, histories,
                                                          X_fits, data.tensors):
        est.network_, est.history_ = autoencoder, history
        if isinstance(est, AutoEncoderFeatures):
            est._n_features_out = int(est._map_batches(autoencoder.encoder, X_fit[:2]).shape[1])
        est._after_fit(X_t)


def _fit_hyperspheres(members, seeds, groups, data):
    """DeepSVDD / DeepSAD: ``_fit_hypersphere`` (Algorithm 1), stacked."""
    first, K = members[0], len(members)
    name = type(first).__name__
    if isinstance(first, DeepSVDD):  # unsupervised: known anomalies are left out
        fits, loop, offsets = data.rows(lambda X, y: (X[y != -1],))
        normals = [slice(None)] * K
    else:
        fits, loop, offsets = data.rows(lambda X, y: (X, y.float()))
        normals = [f[1] != -1 for f in fits]
    X_fits = [f[0] for f in fits]
    autoencoders, generators = _build_members(members, seeds, X_fits)
    if first.pretrain:
        histories = _pretrain(members, groups, autoencoders, generators, loop[0], offsets,
                              first.pretrain_epochs, f"{name} x{K} pretraining")
        for est, history in zip(members, histories):
            est.pretrain_history_ = history
    centers = []
    for est, autoencoder, X_fit, normal in zip(members, autoencoders, X_fits, normals):
        est.network_ = autoencoder.encoder
        c = init_center(est._map_batches(est.network_, X_fit[normal]).clone())
        est.center_ = c.double().cpu().numpy()
        centers.append(c)
    c = torch.stack(centers)
    device = loop[0].device
    stacked = StackedMLP([est.network_ for est in members], groups)
    distance = vmap(squared_distance)

    def distances(x):
        return _rowwise(distance(stacked(x).contiguous(), c))

    after_step, radius = None, None
    if isinstance(first, DeepSAD):
        eta = torch.tensor([float(est.eta) for est in members], device=device)
        per_model = vmap(deep_sad_loss)

        def objective(x, s):
            return per_model(distances(x), _rowwise(s), eta), None
    elif first.objective == "one-class":
        per_model = vmap(one_class_loss)

        def objective(x):
            return per_model(distances(x)), None
    else:
        radius = torch.zeros(K, device=device)
        nu = torch.tensor([float(est.nu) for est in members], device=device)
        # 1 - nu computed in double and rounded to float32, as torch.quantile does alone.
        q = torch.tensor([1 - float(est.nu) for est in members], device=device)
        per_model = vmap(soft_boundary_loss)
        member_index = torch.arange(K, device=device)

        def objective(x):
            dist = distances(x)
            return per_model(dist, radius, nu), dist

        def after_step(dist, epoch):
            if epoch >= SOFT_BOUNDARY_WARM_UP_EPOCHS:
                # Each member's optimal R for its batch's pre-step distances.
                r = torch.quantile(dist.detach().sqrt(), q, dim=1)  # (K_q, K)
                radius.copy_(r[member_index, member_index])

    weights = [est._sample_weights(f) for est, f in zip(members, fits)]
    histories = _train_stacked(members, groups, stacked, objective, loop,
                               _drawer(generators, len(X_fits[0]), device, weights, offsets),
                               epochs=first.epochs, desc=f"{name} x{K}", after_step=after_step)
    stacked.unstack_into([est.network_ for est in members])
    for est, history, X_fit, (X_t, _) in zip(members, histories, X_fits, data.tensors):
        est.history_ = history
        dist = -est._score_tensor(X_fit)
        est._warn_if_collapsed(dist)
        if isinstance(est, DeepSVDD):
            r = torch.zeros((), device=device)
            if est.objective == "soft-boundary":
                r = torch.quantile(dist.sqrt(), 1 - est.nu)
            est.radius_ = float(r)
        est._after_fit(X_t)
