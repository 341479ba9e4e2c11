"""The one trainer of the deep detectors: ``K >= 1`` models in one loop.

A method is written once, as a class method ``_fit_stack(stack)`` that
works on a :class:`Stack` of ``K`` estimators of its class: it asks the
stack for its training rows, builds each member's networks, trains them with
its loss and sets each member's fitted attributes.  A lone ``fit`` is a stack
of one (``K = 1``); :func:`fit_stacked`, :class:`~skdeepad.ensemble.StackedEnsemble`
and :class:`~skdeepad.model_selection.StackedSearchCV` pass ``K`` members.
Nothing in this module knows a method: no loss, centre, radius or schedule.

Conventions a method's ``_fit_stack`` follows:

* Batches arrive as ``(K, B, ...)`` tensors, one slice per member (each
  member draws its own batch order); the network passed to a loss maps
  ``(K, B, ...)`` to ``(K, B, ...)``; a loss returns one value per member,
  shape ``(K,)``.  Per-member hyper-parameters come from :meth:`Stack.param`
  as ``(K, 1)`` tensors, per-member random draws from :meth:`Stack.randn` and
  :meth:`Stack.rand`.
* Everything that is not training -- a centre from a network's outputs, a
  collapse warning, a final radius -- is computed per member by the
  method's own code on that member's own network (``stack.members``).

How ``K`` networks become one module (:func:`stack_modules`):

* ``K = 1``: the network itself (:class:`_Single` only adds and removes the
  leading axis), so a lone fit runs the very kernels it always ran.
* The package's MLPs (:class:`~skdeepad.networks.MLP`, ``MLPDecoder``,
  ``DROCCMLP`` and ``Sequential`` compositions of them, e.g. the supervised
  baseline): :class:`StackedMLP`, weights stacked on a leading axis and
  applied with batched matrix products on ``(K, C, B)`` activations, whose
  BatchNorm (per model, over that model's own batch) needs no copy.
* Any other network made of standard layers (the LeNet CNNs and their
  decoders, DROCC's CNN): :class:`VmapStack`, the members' parameters and
  buffers stacked and the network evaluated with
  :func:`torch.func.functional_call` under :func:`torch.func.vmap`.

Randomness.  Each member draws exactly what its lone fit draws, in the same
order: its ``random_state`` gives the seed of its fit, under which its
validation split is drawn and its networks are built; the state of torch's
generator after that becomes the member's own :class:`torch.Generator`,
which draws its batch orders and the method's random numbers (on the
GPU for CUDA, on the CPU for any other device).  Only the split and the
building touch torch's global generator, under the package's lock; training
draws from the members' own generators, so fits running in threads train
side by side and still give the results of sequential fits.

Optimisation.  Adam, AdamW, SGD and RMSprop act elementwise, so one optimizer
over a ``(K, out, in)`` tensor is ``K`` optimizers over its slices.  Members
that differ in ``optimizer``, ``optimizer__*``, ``lr``, ``weight_decay`` or
``lr_milestones`` get their own leaf tensors and optimizer (one per distinct
setting), concatenated in the forward pass.

Tolerance.  A member's weights and scores equal its lone fit's within 1e-5
relative on the CPU (tested for every stacked method); batched products can
round differently from lone ones in the last bit, which training carries
along without growing beyond rounding.  On a GPU, cuBLAS and cuDNN choose
their own algorithms, and agreement is to float rounding.
"""

import contextlib
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from ._train import _OPTIMIZERS, make_optimizer, train_loop
from .base import _GLOBAL_RNG_LOCK, _restored_on_failure

__all__ = ["fit_stacked", "Stack", "StackedMLP", "VmapStack", "StackedFallbackWarning",
           "stack_modules", "structure_key"]

#: Optimizers whose update is elementwise (one over stacked tensors = K over slices).
_ELEMENTWISE_OPTIMIZERS = frozenset(_OPTIMIZERS) | frozenset(_OPTIMIZERS.values())

#: Layers :class:`VmapStack` evaluates under ``vmap`` (the package's networks use only these).
_VMAP_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d,
                nn.LeakyReLU, nn.ReLU, nn.Sigmoid, nn.Identity, nn.MaxPool2d, nn.Upsample,
                nn.Flatten, nn.Sequential)


class StackedFallbackWarning(UserWarning):
    """Estimators that cannot be stacked were fitted one after another."""


class _Unstackable(ValueError):
    """The members' networks cannot be evaluated as one stack."""


# ================================================================ modules
class _Single(nn.Module):
    """One network seen as a stack of one: ``(1, B, ...) -> (1, B, ...)``."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return self.module(x[0]).unsqueeze(0)

    def unstack_into(self, modules):
        pass  # the module is the member's own


def _mlp_spec(module):
    """``(layout, linears, norms, tail)`` of a stackable MLP, or None.

    ``layout`` holds one ``(in, out, bias, has_bn, activation)`` per linear
    layer and is what two stackable modules must share; ``tail`` is what the
    module's ``forward`` does after its layers (``None``, ``"squeeze"`` or an
    output shape).
    """
    from .networks import DROCCMLP, MLP, MLPDecoder

    tails = {MLP: None, MLPDecoder: "reshape", DROCCMLP: "squeeze", nn.Sequential: None}
    if type(module) not in tails:
        return None
    tail = tails[type(module)]
    if tail == "reshape":
        tail = module.output_shape
    leaves = []

    def walk(m):
        if type(m) in (MLP, MLPDecoder, DROCCMLP, nn.Sequential):
            if m is not module and type(m) is not nn.Sequential and tails[type(m)] is not None:
                return False  # a nested module whose forward does more than its layers
            return all(walk(child) for child in m.children())
        leaves.append(m)
        return True

    if not walk(module):
        return None
    layout, linears, norms = [], [], []
    for layer in leaves:
        if isinstance(layer, nn.Flatten) and not layout:
            continue
        if type(layer) is nn.Linear:
            linears.append(layer)
            layout.append([layer.in_features, layer.out_features, layer.bias is not None,
                           False, None])
        elif type(layer) is nn.BatchNorm1d and layout and not layer.affine \
                and layer.track_running_stats and layer.momentum is not None:
            norms.append(layer)
            layout[-1][3] = True
        elif type(layer) is nn.LeakyReLU and layout and layout[-1][4] is None:
            layout[-1][4] = ("leaky_relu", layer.negative_slope)
        elif type(layer) is nn.ReLU and layout and layout[-1][4] is None:
            layout[-1][4] = ("relu", None)
        elif type(layer) is nn.Sigmoid and layout and layout[-1][4] is None:
            layout[-1][4] = ("sigmoid", None)
        else:
            return None
    if not layout:
        return None
    return tuple(tuple(v) for v in layout), linears, norms, tail


class StackedMLP(nn.Module):
    """``K`` MLPs of one architecture evaluated as one module.

    Built from ``K`` identical-shaped MLPs (see :func:`_mlp_spec`).  Each
    linear layer's weights (and biases) are stacked into ``(K, out, in)``
    tensors and applied with one batched matrix product; each BatchNorm
    normalises every model's channels over that model's own batch (one
    :func:`torch.nn.functional.batch_norm` over ``K * C`` channels), with
    per-model running statistics.

    Parameters
    ----------
    modules : list of torch.nn.Module
        The models, all of the same type and shapes.
    groups : list of int, default=None
        Sizes of consecutive runs of models that get their own leaf tensors
        (one optimizer per run); ``None`` means one run of all ``K``.

    Notes
    -----
    The module only trains: it is always in batch-statistics mode.  Use
    :meth:`unstack_into` to write the weights and statistics back into the
    ordinary modules for evaluation.
    """

    def __init__(self, modules, groups=None):
        super().__init__()
        specs = [_mlp_spec(m) for m in modules]
        if any(s is None for s in specs) or any(s[0] != specs[0][0] for s in specs):
            raise ValueError("StackedMLP needs MLPs of identical shapes.")
        self.n_models = len(modules)
        self.groups = list(groups or [self.n_models])
        self._layers, _, norms, self._tail = specs[0]
        # The first model's BatchNorm layers hold the momentum and eps used
        # (read at every forward, so batch_norm_momentum can pause them).
        self._norm_layers = list(norms)
        bounds = np.cumsum([0, *self.groups])
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for g in range(len(self.groups)):
            members = range(bounds[g], bounds[g + 1])
            for layer in range(len(self._layers)):
                self.weights.append(nn.Parameter(torch.stack(
                    [specs[k][1][layer].weight.detach() for k in members]).clone()))
                if self._layers[layer][2]:
                    self.biases.append(nn.Parameter(torch.stack(
                        [specs[k][1][layer].bias.detach() for k in members]).clone()))
        self._biased = [layer for layer, spec in enumerate(self._layers) if spec[2]]
        for i in range(len(norms)):
            self.register_buffer(f"running_mean{i}", torch.cat(
                [s[2][i].running_mean for s in specs]).clone())
            self.register_buffer(f"running_var{i}", torch.cat(
                [s[2][i].running_var for s in specs]).clone())
        self.n_batches = 0

    def batch_norm_layers(self):
        """The BatchNorm layers whose momentum and eps this stack uses."""
        return self._norm_layers

    def group_parameters(self, group):
        """The leaf tensors of run ``group`` (give them to one optimizer)."""
        n, nb = len(self._layers), len(self._biased)
        return (list(self.weights[group * n:(group + 1) * n])
                + list(self.biases[group * nb:(group + 1) * nb]))

    def _stacked(self, tensors, per_group, index):
        parts = [tensors[g * per_group + index] for g in range(len(self.groups))]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _weight(self, layer):
        return self._stacked(self.weights, len(self._layers), layer)

    def _bias(self, layer):
        return self._stacked(self.biases, len(self._biased), self._biased.index(layer))

    def forward(self, x):
        """``(K, B, ...)`` inputs -> ``(K, B, ...)`` outputs (a strided view).

        Inside, activations are ``(K, C, B)``: each layer is one batched
        product ``W h`` per model, and BatchNorm sees the free view
        ``(1, K * C, B)``, normalising each model's channels over its own
        batch without a copy.
        """
        K, B = x.shape[:2]
        h = x.reshape(K, B, -1).transpose(1, 2)
        norm = 0
        for layer, (_, _, bias, has_bn, activation) in enumerate(self._layers):
            weight = self._weight(layer)
            if bias:
                h = torch.baddbmm(self._bias(layer)[:, :, None], weight, h)
            else:
                h = torch.bmm(weight, h)
            if has_bn:
                bn = self._norm_layers[norm]
                C = h.shape[1]
                h = F.batch_norm(h.reshape(1, K * C, B),
                                 getattr(self, f"running_mean{norm}"),
                                 getattr(self, f"running_var{norm}"), training=True,
                                 momentum=bn.momentum, eps=bn.eps).view(K, C, B)
                norm += 1
            if activation is not None:
                kind, slope = activation
                if kind == "leaky_relu":
                    h = F.leaky_relu(h, slope)
                elif kind == "relu":
                    h = F.relu(h)
                else:
                    h = torch.sigmoid(h)
        self.n_batches += 1
        h = h.transpose(1, 2)
        if self._tail == "squeeze":
            return h.squeeze(-1)
        if self._tail is not None:
            return h.reshape(K, B, *self._tail)
        return h

    @torch.no_grad()
    def unstack_into(self, modules):
        """Copy model ``k``'s weights and BatchNorm statistics into ``modules[k]``."""
        K = self.n_models
        for k, module in enumerate(modules):
            _, linears, norms, _ = _mlp_spec(module)
            for layer, linear in enumerate(linears):
                linear.weight.copy_(self._weight(layer)[k])
                if linear.bias is not None:
                    linear.bias.copy_(self._bias(layer)[k])
            for i, bn in enumerate(norms):
                bn.running_mean.copy_(getattr(self, f"running_mean{i}").view(K, -1)[k])
                bn.running_var.copy_(getattr(self, f"running_var{i}").view(K, -1)[k])
                bn.num_batches_tracked += self.n_batches


class VmapStack(nn.Module):
    """``K`` networks of one architecture, evaluated with ``vmap`` over stacked weights.

    The members' parameters and buffers are stacked on a leading axis (one
    leaf tensor per parameter and run of ``groups``) and the network is run
    with :func:`torch.func.functional_call` under :func:`torch.func.vmap`:
    convolutions become grouped convolutions, BatchNorm normalises each
    member over its own batch and updates that member's running statistics.

    Parameters
    ----------
    modules : list of torch.nn.Module
        The members, of one class and identical shapes.
    groups : list of int, default=None
        As for :class:`StackedMLP`.
    """

    def __init__(self, modules, groups=None):
        super().__init__()
        self.n_models = len(modules)
        self.groups = list(groups or [self.n_models])
        self._skeleton = [modules[0]]  # not registered: structure and BN settings only
        self._names = [n for n, p in modules[0].named_parameters()]
        bounds = np.cumsum([0, *self.groups])
        self.leaves = nn.ParameterList()
        for g in range(len(self.groups)):
            for name in self._names:
                self.leaves.append(nn.Parameter(torch.stack(
                    [dict(m.named_parameters())[name].detach()
                     for m in modules[bounds[g]:bounds[g + 1]]]).clone()))
        self._buffer_names = [n for n, _ in modules[0].named_buffers()]
        for i, name in enumerate(self._buffer_names):
            self.register_buffer(f"buffer{i}", torch.stack(
                [dict(m.named_buffers())[name] for m in modules]).clone())

    def batch_norm_layers(self):
        from .networks._batchnorm import batch_norm_layers

        return batch_norm_layers(self._skeleton[0])

    def group_parameters(self, group):
        n = len(self._names)
        return list(self.leaves[group * n:(group + 1) * n])

    def _state(self):
        n, G = len(self._names), len(self.groups)
        params = {name: (self.leaves[i] if G == 1 else
                         torch.cat([self.leaves[g * n + i] for g in range(G)]))
                  for i, name in enumerate(self._names)}
        buffers = {name: getattr(self, f"buffer{i}") for i, name in enumerate(self._buffer_names)}
        return params, buffers

    def forward(self, x):
        skeleton = self._skeleton[0]
        skeleton.train(self.training)

        def one(params, buffers, x_k):
            return functional_call(skeleton, (params, buffers), (x_k,))

        return vmap(one)(*self._state(), x)

    @torch.no_grad()
    def unstack_into(self, modules):
        params, buffers = self._state()
        for k, module in enumerate(modules):
            for name, p in module.named_parameters():
                p.copy_(params[name][k])
            for name, b in module.named_buffers():
                b.copy_(buffers[name][k])


class _StackedPair(nn.Module):
    """Stacked encoders followed by stacked decoders (``EncoderDecoder`` members)."""

    def __init__(self, pairs, groups):
        super().__init__()
        self.encoder = stack_modules([p.encoder for p in pairs], groups)
        self.decoder = stack_modules([p.decoder for p in pairs], groups)

    def batch_norm_layers(self):
        from .networks._batchnorm import batch_norm_layers

        return batch_norm_layers(self.encoder) + batch_norm_layers(self.decoder)

    def group_parameters(self, group):
        return self.encoder.group_parameters(group) + self.decoder.group_parameters(group)

    def forward(self, x):
        return self.decoder(self.encoder(x))

    def unstack_into(self, pairs):
        self.encoder.unstack_into([p.encoder for p in pairs])
        self.decoder.unstack_into([p.decoder for p in pairs])


def _stack_kind(module):
    """How ``module`` stacks: ``"mlp"``, ``"pair"``, ``"vmap"`` or None (it does not)."""
    from .networks import EncoderDecoder

    if type(module) is EncoderDecoder:
        parts = (_stack_kind(module.encoder), _stack_kind(module.decoder))
        return "pair" if None not in parts else None
    if _mlp_spec(module) is not None:
        return "mlp"
    if type(module).__module__.startswith("skdeepad.networks") and all(
            isinstance(m, _VMAP_LAYERS) or type(m).__module__.startswith("skdeepad.networks")
            for m in module.modules()):
        return "vmap"
    return None


def stack_modules(modules, groups=None):
    """One module evaluating the ``K`` networks ``modules`` on ``(K, B, ...)`` inputs."""
    if len(modules) == 1:
        return _Single(modules[0])
    kind = _stack_kind(modules[0])
    if kind == "mlp":
        return StackedMLP(modules, groups)
    if kind == "pair":
        return _StackedPair(modules, groups)
    if kind == "vmap":
        return VmapStack(modules, groups)
    raise _Unstackable(f"its network ({type(modules[0]).__name__}) cannot be stacked")


# ================================================================= the stack
class _Rows:
    """Each member's training tensors (and validation tensors, for a lone fit).

    ``members[k]`` is member ``k``'s tuple of tensors; ``loop`` the tensors
    the training loop iterates over (one copy when the members share their
    rows, else the members' rows one after another) and ``offsets`` the
    first row of each member in them (``None`` when shared).
    """

    def __init__(self, members, valid, shared):
        self.members, self.valid = members, valid
        if shared:
            self.loop, self.offsets = members[0], None
            return
        sizes = {len(m[0]) for m in members}
        if len(sizes) > 1:
            raise ValueError(
                "With per_estimator=True the estimators must train on equally many rows; "
                f"after the method's own selection (e.g. dropping known anomalies) they "
                f"have {sorted(sizes)}.")
        n = sizes.pop()
        self.loop = tuple(torch.cat(parts) for parts in zip(*members))
        self.offsets = torch.arange(len(members), device=self.loop[0].device)[:, None] * n

    def __len__(self):
        return len(self.members[0][0])


class Stack:
    """``K`` estimators of one class fitted together (``K = 1`` for a lone fit).

    Created by :func:`fit_members`; a method's ``_fit_stack(stack)`` uses it.

    Attributes
    ----------
    members : list of estimators
        The members, grouped by optimizer settings.
    first : estimator
        ``members[0]``, for the settings all members share.
    K : int
        Number of members.
    device : torch.device
        Where every member trains.
    """

    def __init__(self, members, data, seeds, shared):
        self.members, self.K = members, len(members)
        self.first = members[0]
        self.device = self.first.device_
        self._shared = shared
        keys = [_optimizer_key(est) for est in members]
        self._groups = [sum(1 for k in keys if k == key) for key in dict.fromkeys(keys)]
        self._rng, self._data = [], []
        for est, (X, y), seed in zip(members, data, seeds):
            with self._member_rng(None, seed) as state:
                # The lone fit's first draw: its validation split.
                self._data.append(est._split_validation(X, y))
            self._rng.append(state["state"])
        self._generators = None
        if shared and self.K > 1:
            self._data = [self._data[0]] * self.K

    @contextlib.contextmanager
    def _member_rng(self, state, seed=None):
        """Torch's global generator at a member's state (or seeded) inside the block."""
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        out = {}
        with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=cuda):
            if seed is not None:
                torch.random.default_generator.manual_seed(seed)
                if cuda:
                    torch.cuda.manual_seed(seed)
            else:
                torch.set_rng_state(state[0])
                if cuda:
                    torch.cuda.set_rng_state(state[1], cuda[0])
            yield out
            out["state"] = (torch.get_rng_state(),
                            torch.cuda.get_rng_state(cuda[0]) if cuda else None)

    def label(self, text):
        """``text`` for a progress bar or an error message, with ``xK`` when stacked."""
        return text if self.K == 1 else f"{text} x{self.K}"

    # ----------------------------------------------------------- data
    def rows(self, select):
        """Apply ``select(X, y) -> tuple of tensors`` to each member's training rows."""
        if self._shared:
            train = select(*self._data[0][0])
            members = [train] * self.K
        else:
            members = [select(*d[0]) for d in self._data]
        valid = [None if d[1] is None else select(*d[1]) for d in self._data]
        return _Rows(members, valid, self._shared)

    def param(self, value):
        """``value(estimator)`` of every member as a ``(K, 1)`` float tensor."""
        return torch.tensor([[float(value(est))] for est in self.members], device=self.device)

    # ------------------------------------------------------ networks
    def build(self, build, rows=None):
        """Each member's networks: ``build(est, *its rows)``, under its own random stream.

        Returns the list of what ``build`` returned, one per member.
        """
        built = []
        for k, est in enumerate(self.members):
            with self._member_rng(self._rng[k]) as state:
                built.append(build(est, *(rows.members[k] if rows is not None else ())))
            self._rng[k] = state["state"]
        return built

    def _generator_list(self):
        """Each member's generator, continuing its stream where its lone fit continues.

        On CUDA the generator lives on the GPU; on any other device (the CPU,
        MPS) it is a CPU generator whose draws are moved to the device.
        """
        if self._generators is None:
            self._generators = []
            for cpu, cuda in self._rng:
                on_cuda = self.device.type == "cuda"
                g = torch.Generator(device=self.device if on_cuda else "cpu")
                g.set_state(cuda if on_cuda else cpu)
                self._generators.append(g)
        return self._generators

    def randn(self, shape):
        """A ``(K,) + shape`` draw of standard normals, one per member's generator."""
        return torch.stack([torch.randn(shape, device=g.device, generator=g).to(self.device)
                            for g in self._generator_list()])

    def rand(self, shape):
        """A ``(K,) + shape`` draw of uniforms on [0, 1), one per member's generator."""
        return torch.stack([torch.rand(shape, device=g.device, generator=g).to(self.device)
                            for g in self._generator_list()])

    # ------------------------------------------------------ training
    def train(self, networks, loss, rows, *, epochs, desc, weights=None, after_step=None,
              milestones=None):
        """Train the members' ``networks`` on ``loss``; return each member's history.

        Parameters
        ----------
        networks : list of torch.nn.Module
            One network per member (trained in place).
        loss : callable
            ``loss(net, epoch, *batch) -> (K,)``: ``net`` maps ``(K, B, ...)``
            to ``(K, B, ...)``, ``batch`` holds ``(K, B, ...)`` tensors and
            ``epoch`` is the 0-based epoch (``None`` for a validation loss).
        rows : _Rows
            From :meth:`rows`.
        epochs : int
        desc : str
            Label of the progress bar and of error messages.
        weights : list of Tensor or None, default=None
            Per member, row weights for drawing each epoch's rows with
            replacement (``None``: a permutation).
        after_step : callable, default=None
            ``after_step(epoch)`` runs after every optimizer step.
        milestones : callable, default=None
            ``milestones(est)`` -> the epochs after which the learning rate
            drops tenfold; default ``est.lr_milestones``.
        """
        K, first = self.K, self.first
        net = stack_modules(networks, self._groups)
        bounds = np.cumsum([0, *self._groups])
        optimizers, schedulers = [], []
        for g in range(len(self._groups)):
            est = self.members[bounds[g]]
            params = (net.group_parameters(g) if K > 1 else
                      [p for p in networks[0].parameters() if p.requires_grad])
            opt = make_optimizer(est.optimizer, params, lr=est.lr,
                                 weight_decay=est.weight_decay, **est._routed("optimizer"))
            optimizers.append(opt)
            steps = milestones(est) if milestones is not None else est.lr_milestones
            schedulers.append(torch.optim.lr_scheduler.MultiStepLR(
                opt, list(steps or ()), gamma=0.1))
        lrs = {}

        def step(batch, epoch):
            if epoch not in lrs:  # the learning rate each group trains this epoch with
                lrs[epoch] = [opt.param_groups[0]["lr"] for opt in optimizers]
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            if K == 1:  # a lone fit's loop yields batches without the member axis
                batch = tuple(t[None] for t in batch)
            losses = loss(net, epoch, *batch)
            losses.sum().backward()  # members are independent: each gets its own gradient
            for opt in optimizers:
                opt.step()
            if after_step is not None:
                after_step(epoch)
            return losses.detach() if K > 1 else losses.detach()[0]

        valid = rows.valid[0] if K == 1 else None

        def valid_loss(*batch):
            return loss(net, None, *(t[None] for t in batch))[0]

        # A lone fit's loop (and its callbacks) sees the member's own network.
        modules = [net] if K > 1 else networks
        history = train_loop(
            step, rows.loop, modules=modules, epochs=epochs, batch_size=first.batch_size,
            schedulers=schedulers, verbose=max(int(est.verbose) for est in self.members),
            desc=desc, draw=self._drawer(len(rows), weights, rows.offsets),
            valid_data=valid, valid_loss=valid_loss,
            n_iter_no_change=first.n_iter_no_change if valid is not None else None,
            callbacks=first.callbacks or ())  # only a lone fit has callbacks
        if K == 1:
            return [history]
        net.unstack_into(networks)
        group_of = np.repeat(np.arange(len(self._groups)), self._groups)
        return [[{"epoch": r["epoch"], "train_loss": r["train_loss"][k],
                  "lr": lrs[r["epoch"] - 1][group_of[k]], "dur": r["dur"]} for r in history]
                for k in range(K)]

    def _drawer(self, n, weights, offsets):
        """``draw(epoch)``: each member's permutation (or weighted draw) of its rows:
        ``(n,)`` for one member, ``(K, n)`` for several (shifted by ``offsets`` when
        the members' rows lie one after another)."""
        generators = self._generator_list()
        weights = [None if w is None else w.to(g.device)
                   for g, w in zip(generators, weights or [None] * self.K)]

        def draw(epoch):
            index = [(torch.randperm(n, device=g.device, generator=g) if w is None
                      else torch.multinomial(w, n, replacement=True, generator=g)
                      ).to(self.device) for g, w in zip(generators, weights)]
            if self.K == 1:
                return index[0]
            index = torch.stack(index)
            return index if offsets is None else index + offsets

        return draw


def _optimizer_key(est):
    milestones = est.lr_milestones
    if milestones is not None and not isinstance(milestones, str):
        milestones = tuple(int(m) for m in milestones)
    routed = tuple(sorted((k, repr(v)) for k, v in est._routed("optimizer").items()))
    return (repr(est.optimizer), float(est.lr), float(est.weight_decay), milestones, routed)


# ===================================================================== fitting
#: Parameters of the base class that fix the training loop or its data:
#: every member of a stack must agree on them.  A method adds its own in
#: ``_stack_structure`` (class attribute).
_LOOP_PARAMS = ("hidden_layer_sizes", "network", "input_shape", "batch_size", "epochs",
                "device", "validation_fraction", "n_iter_no_change")


def _structure_params(cls):
    return _LOOP_PARAMS + tuple(getattr(cls, "_stack_structure", ()))


def structure_key(estimator):
    """The values of the parameters that must agree within one stack, as a hashable key.

    Estimators can share one stack only if their classes and keys are equal.
    """
    params = estimator.get_params(deep=False)
    key = [type(estimator)]
    for name in _structure_params(type(estimator)):
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


def why_not_stackable(est, y=None):
    """Why copies of ``est`` must be fitted one after another, or None."""
    if not hasattr(type(est), "_fit_stack"):
        return f"{type(est).__name__} has no stacked implementation"
    if est.network is not None:
        return "a custom `network` cannot be stacked"
    if est.validation_fraction is not None or est.n_iter_no_change is not None:
        return ("validation_fraction / n_iter_no_change (a member-specific held-out "
                "split and early stopping) are not stacked")
    if est.callbacks:
        return "callbacks see one training loop, so fits with callbacks are not stacked"
    if est.optimizer not in _ELEMENTWISE_OPTIMIZERS:
        return f"optimizer {est.optimizer!r} is not known to act elementwise"
    refusal = getattr(est, "_stack_refusal", None)
    return refusal(y) if refusal is not None else None


def fit_members(estimators, X, y, per_estimator=False):
    """Fit ``estimators`` (one class, one structure) with their method's ``_fit_stack``.

    The engine under ``fit`` (one estimator) and :func:`fit_stacked` (several).
    """
    K = len(estimators)
    if not per_estimator:
        X, y = [X] * K, [y] * K
    prepared = [est._prepare_fit(X_k, y_k) for est, X_k, y_k in zip(estimators, X, y)]
    if per_estimator:
        shapes = {p[0].shape for p in prepared}
        if len(shapes) > 1:
            raise ValueError(
                "With per_estimator=True every estimator's X must have the same shape; got "
                f"{sorted(shapes)}.")
    devices = {str(est.device_) for est in estimators}
    if len(devices) > 1:
        raise ValueError(f"fit_stacked needs one device for all estimators; got {sorted(devices)}.")
    first = estimators[0]
    if per_estimator:
        tensors = [(est._to_tensor(p[0]), torch.as_tensor(p[1], device=est.device_))
                   for est, p in zip(estimators, prepared)]
    else:  # one copy of the data, shared by every member
        tensors = [(first._to_tensor(prepared[0][0]),
                    torch.as_tensor(prepared[0][1], device=first.device_))] * K
    # Members that share optimizer settings share leaf tensors: order them by group.
    keys = [_optimizer_key(est) for est in estimators]
    groups = list(dict.fromkeys(keys))
    order = sorted(range(K), key=lambda k: groups.index(keys[k]))
    stack = Stack([estimators[k] for k in order], [tensors[k] for k in order],
                  [prepared[k][2] for k in order], shared=not per_estimator)
    type(first)._fit_stack(stack)
    for est, (X_t, _) in zip(estimators, tensors):
        est._after_fit(X_t)
    return estimators


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

    Each estimator ends up as ``estimator.fit(X, y)`` would leave it (same
    initial weights from its own ``random_state``, same batch order and random
    draws, same pretraining, centre and offset; on the CPU the same weights
    and scores within 1e-5 relative, as tested), but the ``K`` networks are
    trained together, their weights stacked on a leading axis: one batched
    forward/backward pass and one optimizer step per batch for all of them.
    For small networks this is several times faster than ``K`` fits one
    after another.  A lone ``fit`` runs the same code with ``K = 1``.

    Stacked: :class:`~skdeepad.DeepSVDD` (one-class and soft-boundary),
    :class:`~skdeepad.DeepSAD` (autoencoder pretraining included),
    :class:`~skdeepad.AutoEncoder`, :class:`~skdeepad.AutoEncoderFeatures`,
    :class:`~skdeepad.DROCC` and :class:`~skdeepad.DROCCLF` (the adversarial
    search batched over members; known negatives excepted),
    :class:`~skdeepad.DeepBinaryClassifier`, with their default networks,
    the LeNet CNNs of images included.  Anything else (AMA, ADRA,
    KDStudentTeacher, a custom ``network``, early stopping) is fitted one
    estimator after another, with a :class:`StackedFallbackWarning`.

    Parameters
    ----------
    estimators : list of estimators
        Unfitted or fitted estimators of one class; they are fitted in place.
        They must agree on every parameter that fixes the networks' shapes or
        the loop (``hidden_layer_sizes``, ``network``, ``input_shape``,
        ``batch_size``, ``epochs``, ``device``, ``validation_fraction``,
        ``n_iter_no_change``, and the method's own, e.g. Deep SAD's
        ``pretrain`` and ``pretrain_epochs``); they may differ in
        ``random_state``, the optimizer settings, ``contamination`` and the
        method's other hyper-parameters (``eta``, ``nu``, ``radius``, ...).
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
    Members with different optimizer settings are trained in the same loop
    but get separate leaf tensors and optimizers (the forward pass
    concatenates them); the speed-up is largest when those are shared, as in
    a seed ensemble.  Weights and optimizer states are ``K``-fold; the data
    are not copied.  The per-epoch losses in ``history_`` may differ from a
    lone fit's in the last bit.  See :mod:`skdeepad._stacked` for how the
    networks are stacked.

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
        if len(estimators) == 1:  # a stack of one is the lone fit
            X_0, y_0 = (X[0], y[0]) if per_estimator else (X, y)
            return [estimators[0].fit(X_0) if y_0 is None else estimators[0].fit(X_0, y_0)]
        for est in estimators:
            est._validate_params()
        reasons = {why_not_stackable(est, y_k) for est, y_k in
                   zip(estimators, y if per_estimator else [y] * len(estimators))}
        reasons.discard(None)
        if reasons:
            return _fit_sequentially(estimators, X, y, sorted(reasons)[0], per_estimator)
        try:
            with _restored_on_failure(*estimators):
                return fit_members(estimators, X, y, per_estimator)
        except _Unstackable as exc:  # found once the networks exist (e.g. an LSTM)
            return _fit_sequentially(estimators, X, y, str(exc), per_estimator)
