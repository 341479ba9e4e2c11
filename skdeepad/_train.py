"""The one training loop shared by every deep detector.

A method supplies its networks, a loss and (optionally) its own train step;
the loop owns epochs, batches, the optimizer schedule, validation, early
stopping, NaN detection, progress display and the per-epoch history.  Nothing
in here knows about a particular method.

Design notes
------------
* The data arrive as tensors that already live on the training device; each
  epoch draws one permutation *on that device* and slices it into batches, so
  no host/device copies happen per batch.
* Losses are accumulated on the device and read back once per epoch (one
  synchronisation per epoch, not per batch).
* A diverging fit stops with a :class:`FloatingPointError` naming the epoch:
  when the epoch's training loss is NaN or infinite, and also when it stays
  finite but has grown more than :data:`DIVERGENCE_FACTOR` times beyond the
  loss of the very first batch (taken before any optimizer step), or beyond
  ``DIVERGENCE_FACTOR`` itself when that initial loss is below 1, or beyond
  :data:`LOSS_LIMIT` (1e20).  Adam with ``lr=1e6`` drives losses from ~1 to
  1e10..1e25 without ever producing a NaN; legitimate training -- DeepSAD's
  inverse-distance term (at most ``eta / 1e-6`` per sample), DROCC's
  adversarial phase switching on, a critic's loss changing sign -- moves the
  loss by a few orders of magnitude at most, far below a million-fold.
  Stacked models' losses are checked one by one.  A loss can also stay
  bounded while the weights explode (an autoencoder's sigmoid output
  saturates at Adam ``lr=1e6``; the Deep SVDD trained on its encoder then
  starts at a loss of 1e12 and stays there): the total norm of the trained
  weights is also checked every epoch, against ``DIVERGENCE_FACTOR`` times
  its initial value (or 1 if smaller) -- Adam moves a weight by about ``lr``
  per step, so sane learning rates stay orders of magnitude below that.  For
  stacked models this norm is over all members, so one exploding member
  stops the stack (as a NaN loss of one member does).  A last optimizer step
  that turns the weights into NaN or inf (after the last loss was taken) is
  caught by a check of the modules' parameters when the loop ends.
* Every sample is used in every epoch.  A final batch smaller than half a
  batch is merged into the previous one: BatchNorm cannot normalise a batch of
  one in training mode, and a batch of a few rows gives statistics so noisy
  that they hurt (Deep SAD on ODDS cardio, 1003 rows in batches of 200: a
  3-row batch every epoch).  The authors' code drops such a batch instead;
  here every sample is still seen.
"""

import copy
import math
import time

import torch
from tqdm.auto import tqdm

__all__ = ["Callback", "EarlyStopping", "ProgressBar", "batch_slices", "gradient_step",
           "make_optimizer", "train_loop"]

# Fused Adam runs on the CPU from torch 2.4 on (and on CUDA before that).
_FUSED_ADAM_ON_CPU = tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 4)

_GATHER_ONCE_BYTES = 256 * 2**20

#: A training loss more than this many times the initial loss (or than this
#: number, for an initial loss below 1) means the optimisation has diverged.
DIVERGENCE_FACTOR = 1e6

#: A training loss above this is a diverged fit whatever the initial loss: it
#: is the square of float32 values of ~1e10, a few orders of magnitude from
#: overflow (a network diverged in pretraining starts its main training here).
LOSS_LIMIT = 1e20

#: The end of every divergence error: what to try.
_DIVERGED = ("The optimisation diverged; try a lower learning rate `lr` (or check the "
             "input scale).")

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def make_optimizer(name, params, *, lr, weight_decay, **kwargs):
    """Build an optimizer from its name (or class) and the shared hyper-parameters.

    Weight decay is the optimizer's own L2 term (the ``lambda / 2 ||W||^2`` of
    Deep SAD, Eq. 8, with ``lambda = weight_decay``); no regulariser is ever
    added to a loss behind the user's back.
    """
    cls = _OPTIMIZERS[name] if isinstance(name, str) else name
    if cls in (torch.optim.Adam, torch.optim.AdamW) and _FUSED_ADAM_ON_CPU:
        # One fused kernel per parameter instead of a dozen small ops: the
        # optimizer step was a third of an epoch for the paper's small MLPs.
        kwargs.setdefault("fused", True)
    return cls(params, lr=lr, weight_decay=weight_decay, **kwargs)


def batch_slices(n_samples, batch_size):
    """Start/stop pairs covering ``range(n_samples)`` with no sample dropped.

    A trailing batch smaller than half of ``batch_size`` is folded into the
    previous one, so no batch is ever smaller than ``batch_size / 2`` unless
    there is only one batch (between ``batch_size / 2`` and ``1.5 *
    batch_size`` rows each).
    """
    starts = list(range(0, n_samples, batch_size))
    if len(starts) > 1 and 2 * (n_samples - starts[-1]) < batch_size:
        starts.pop()
    stops = starts[1:] + [n_samples]
    return list(zip(starts, stops))


def gradient_step(loss_fn, optimizer):
    """The plain train step: zero grads, loss, backward, one optimizer step.

    Returns a function ``step(batch, epoch) -> loss`` (detached scalar tensor)
    for :func:`train_loop`.
    """

    def step(batch, epoch):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(*batch)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


class Callback:
    """A hook into :func:`train_loop` (the protocol of skorch's callbacks, smaller).

    Each method receives the running :class:`Loop` (its ``modules``,
    ``epochs``, ``desc``, ``history`` so far, and ``stop``: set it to True to
    end training after this epoch).  Override what you need.
    """

    def on_train_begin(self, loop):
        """Before the first epoch."""

    def on_batch_end(self, loop, loss):
        """After each optimizer step; ``loss`` is the batch's loss (a device tensor)."""

    def on_epoch_end(self, loop, record):
        """After each epoch; ``record`` is the epoch's entry of ``history_``."""

    def on_train_end(self, loop):
        """After the last epoch (also after an early stop)."""


class Loop:
    """The state of one :func:`train_loop` that callbacks see."""

    def __init__(self, modules, epochs, desc):
        self.modules, self.epochs, self.desc = modules, epochs, desc
        self.history, self.stop = [], False


class ProgressBar(Callback):
    """A tqdm bar with the losses (``verbose=1``), plus one line per epoch (``verbose=2``)."""

    def __init__(self, verbose):
        self.verbose = verbose

    def on_train_begin(self, loop):
        self.bar = tqdm(total=loop.epochs, desc=loop.desc, leave=False)

    def on_epoch_end(self, loop, record):
        shown = {k: f"{sum(v) / len(v) if isinstance(v, list) else v:.4g}"
                 for k, v in record.items() if k.endswith("loss")}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update()
        if self.verbose >= 2:  # one line per epoch, kept above the bar
            self.bar.write(f"{loop.desc} epoch {record['epoch']}/{loop.epochs}: "
                           + ", ".join(f"{k} {v}" for k, v in shown.items())
                           + (f", lr {record['lr']:.3g}" if "lr" in record else "")
                           + f", {record['dur']:.2f} s")

    def on_train_end(self, loop):
        self.bar.close()


class EarlyStopping(Callback):
    """Stop when ``valid_loss`` has not improved for ``patience`` epochs, and
    restore the modules' weights of the best epoch (``n_iter_no_change``)."""

    def __init__(self, patience):
        self.patience = patience

    def on_train_begin(self, loop):
        self.best_loss, self.best_state, self.stale = math.inf, None, 0

    def on_epoch_end(self, loop, record):
        if record["valid_loss"] < self.best_loss:
            self.best_loss, self.stale = record["valid_loss"], 0
            self.best_state = [copy.deepcopy(m.state_dict()) for m in loop.modules]
        else:
            self.stale += 1
            loop.stop = self.stale >= self.patience

    def on_train_end(self, loop):
        if self.best_state is not None:
            for module, state in zip(loop.modules, self.best_state):
                module.load_state_dict(state)


class _EpochEnd(Callback):
    def __init__(self, fn):
        self.fn = fn

    def on_epoch_end(self, loop, record):
        self.fn(record["epoch"] - 1, record)


def _gather_stacked(data, index):
    """Rows ``index`` (shape ``(K, b)``) of every tensor, as ``(K, b, ...)`` tensors."""
    flat = index.reshape(-1)
    return tuple(t.index_select(0, flat).view(*index.shape, *t.shape[1:]) for t in data)


def _evaluate(loss_fn, data, modules, batch_size):
    """Mean loss over ``data`` in evaluation mode (weights frozen)."""
    for module in modules:
        module.eval()
    n = len(data[0])
    total = torch.zeros((), device=data[0].device)
    with torch.inference_mode():
        for start, stop in batch_slices(n, batch_size):
            total += loss_fn(*(t[start:stop] for t in data)) * (stop - start)
    return (total / n).item()


def train_loop(
    step,
    data,
    *,
    modules,
    epochs,
    batch_size,
    schedulers=(),
    valid_data=None,
    valid_loss=None,
    n_iter_no_change=None,
    verbose=0,
    desc="training",
    on_epoch_end=None,
    sample_weights=None,
    draw=None,
    callbacks=(),
):
    """Run ``epochs`` passes of ``step`` over shuffled mini-batches of ``data``.

    Parameters
    ----------
    step : callable
        ``step(batch, epoch) -> Tensor``: one optimisation step on ``batch``
        (a tuple of tensors, one per entry of ``data``), returning the batch's
        mean loss as a detached scalar tensor.  See :func:`gradient_step`.
    data : tuple of Tensor
        Training tensors with the same first dimension, on the device.
    modules : list of torch.nn.Module
        Modules put in training mode each epoch (and in evaluation mode for
        the validation loss).
    epochs, batch_size : int
        Number of passes and mini-batch size.
    schedulers : sequence of learning-rate schedulers
        Stepped once at the end of every epoch (after the optimizer steps).
    valid_data : tuple of Tensor or None
        Held-out tensors; their mean ``valid_loss`` is recorded every epoch.
    valid_loss : callable or None
        ``valid_loss(*batch) -> Tensor`` evaluated without gradients.
    n_iter_no_change : int or None
        Stop when the validation loss has not improved for that many epochs,
        then restore the weights of the best epoch (:class:`EarlyStopping`).
    verbose : int
        0: silent; 1: a tqdm progress bar with the loss; 2: also one line
        per epoch (losses, learning rate, duration) written above the bar
        (:class:`ProgressBar`).
    desc : str
        Label of the progress bar and of error messages.
    on_epoch_end : callable or None
        ``on_epoch_end(epoch, record)`` called after each epoch.
    callbacks : sequence of Callback
        Further hooks (:class:`Callback`), run after the built-in ones
        (``on_epoch_end``, progress bar, early stopping).
    sample_weights : Tensor or None
        If given, each epoch draws ``n`` rows *with replacement* with these
        probabilities (unnormalised) instead of a permutation of the rows.
    draw : callable or None
        ``draw(epoch) -> LongTensor`` replacing the epoch's permutation (and
        ``sample_weights``): the row indices of the epoch, of shape ``(n,)``,
        or ``(K, m)`` for ``K`` models trained together on one copy of the
        data (:func:`skdeepad.fit_stacked`), each drawing its own order (``m``
        may be less than ``n`` when each model owns a block of rows).  With
        a ``(K, m)`` draw every batch tensor has shape ``(K, b, ...)``,
        ``step`` returns one loss per model (shape ``(K,)``), and
        ``train_loss`` in the history is a list of ``K`` floats.

    Returns
    -------
    history : list of dict
        One record per epoch: ``epoch`` (1-based), ``train_loss``,
        ``valid_loss`` (when validating), ``lr`` and ``dur`` (seconds).

    Raises
    ------
    FloatingPointError
        If the training loss of an epoch becomes NaN or infinite, or grows
        beyond ``DIVERGENCE_FACTOR * max(|loss of the first batch|, 1)``
        or beyond ``LOSS_LIMIT`` (per model for a ``(K, m)`` draw); if the
        total norm of the trainable weights of ``modules`` grows beyond
        ``DIVERGENCE_FACTOR * max(initial norm, 1)``; or if
        those weights are NaN or infinite at the end.  The
        message names the epoch and suggests a lower learning rate.
    """
    n = len(data[0])
    device = data[0].device
    slices = batch_slices(n, batch_size)
    sizes = torch.tensor([b - a for a, b in slices], dtype=torch.float32, device=device)
    # Shuffling the whole data set once per epoch saves a gather per batch
    # (~15 % of an epoch for small MLPs); above this size it would double the
    # memory held, so large data (images) are gathered batch by batch.
    row_bytes = sum(t.element_size() * t[:1].numel() for t in data)
    gather_once = n * row_bytes <= _GATHER_ONCE_BYTES
    loop = Loop(modules, epochs, desc)
    history = loop.history
    callbacks = ([_EpochEnd(on_epoch_end)] if on_epoch_end is not None else []) + (
        [ProgressBar(verbose)] if verbose else []) + (
        [EarlyStopping(n_iter_no_change)] if n_iter_no_change is not None else []) + list(callbacks)
    batch_hooks = [cb for cb in callbacks
                   if type(cb).on_batch_end is not Callback.on_batch_end]
    limit = None  # the divergence bound, from the first batch's loss
    params = [p for m in modules for p in m.parameters()  # the trained ones
              if p.requires_grad and p.is_floating_point()]
    weight_limit = DIVERGENCE_FACTOR * max(_total_norm(params).item(), 1.0) if params else 0.0
    for cb in callbacks:
        cb.on_train_begin(loop)
    for epoch in range(epochs):
        tic = time.perf_counter()
        for module in modules:
            module.train()
        if draw is not None:
            perm = draw(epoch)
        elif sample_weights is None:
            perm = torch.randperm(n, device=device)
        else:
            perm = torch.multinomial(sample_weights, n, replacement=True)
        if perm.shape[-1] != n:  # stacked models each drawing from their own block of rows
            n = perm.shape[-1]
            slices = batch_slices(n, batch_size)
            sizes = torch.tensor([b - a for a, b in slices], dtype=torch.float32, device=device)
        if perm.dim() == 2 and perm.numel() * row_bytes <= _GATHER_ONCE_BYTES:
            # Stacked models, each with its own order: one gather of every
            # model's epoch, then (K, b, ...) views of it.
            shuffled = _gather_stacked(data, perm)
            batches = (tuple(t[:, a:b] for t in shuffled) for a, b in slices)
        elif perm.dim() == 2:  # stacked models on large data: one gather per batch
            batches = (_gather_stacked(data, perm[:, a:b]) for a, b in slices)
        elif gather_once:  # one gather per epoch, then free contiguous views
            shuffled = tuple(t[perm] for t in data)
            batches = (tuple(t[a:b] for t in shuffled) for a, b in slices)
        else:
            batches = (tuple(t[perm[a:b]] for t in data) for a, b in slices)
        losses = []
        for batch in batches:
            losses.append(step(batch, epoch))
            for cb in batch_hooks:
                cb.on_batch_end(loop, losses[-1])
        if limit is None:  # from the loss of the untrained model, before any step
            limit = _divergence_limit(losses[0])
        stacked = perm.dim() == 2  # one loss per stacked model
        epoch_loss = (sizes @ torch.stack(losses).float() / n).reshape(-1)
        if params:  # one read-back for the loss(es) and the weights' norm
            *train_loss, norm = torch.cat([epoch_loss, _total_norm(params)[None]]).tolist()
        else:
            train_loss, norm = epoch_loss.tolist(), None
        _check_loss(train_loss, limit if stacked else [limit], desc, epoch, stacked)
        if norm is not None:
            _check_weights(norm, weight_limit, modules, desc, epoch)
        if not stacked:
            train_loss = train_loss[0]
        record = {"epoch": epoch + 1, "train_loss": train_loss}
        for scheduler in schedulers:
            record["lr"] = scheduler.optimizer.param_groups[0]["lr"]
            scheduler.step()
        if valid_data is not None:
            record["valid_loss"] = _evaluate(valid_loss, valid_data, modules, batch_size)
        record["dur"] = time.perf_counter() - tic
        history.append(record)
        for cb in callbacks:
            cb.on_epoch_end(loop, record)
        if loop.stop:
            break
    for cb in callbacks:
        cb.on_train_end(loop)
    _check_finite_parameters(modules, desc, len(history))
    return history


def _divergence_limit(first_loss):
    """The bound the loss must stay under: per model, from the first batch's loss."""
    scale = torch.as_tensor(first_loss).detach().float().abs()
    scale = scale.nan_to_num(posinf=math.inf).clamp_min(1.0)  # a NaN is caught anyway
    return (DIVERGENCE_FACTOR * scale).clamp_max(LOSS_LIMIT).tolist()


def _check_loss(train_loss, limit, desc, epoch, stacked):
    """Raise FloatingPointError if an epoch's loss is non-finite or past its limit."""
    bad = [k for k, v in enumerate(train_loss) if not math.isfinite(v)]
    if bad:
        what = (f"the training loss of stacked model(s) {bad} became non-finite"
                if stacked else f"the training loss became {train_loss[0]}")
        raise FloatingPointError(f"{desc}: {what} in epoch {epoch + 1}. {_DIVERGED}")
    bad = [k for k, (v, bound) in enumerate(zip(train_loss, limit)) if abs(v) > bound]
    if bad:
        grown = [f"{train_loss[k]:.3g}" for k in bad]
        what = (f"the training loss of stacked model(s) {bad} grew to {grown}" if stacked
                else f"the training loss grew to {grown[0]}")
        raise FloatingPointError(
            f"{desc}: {what} in epoch {epoch + 1}, past {DIVERGENCE_FACTOR:.0e} times the "
            f"initial loss (or 1 if smaller; at most {LOSS_LIMIT:.0e}). {_DIVERGED}"
        )


def _check_weights(norm, weight_limit, modules, desc, epoch):
    """Raise FloatingPointError if the weights' norm is non-finite or past its limit."""
    if not math.isfinite(norm):
        _check_finite_parameters(modules, desc, epoch + 1)
    if norm > weight_limit:
        raise FloatingPointError(
            f"{desc}: the network's weights grew to a norm of {norm:.3g} in epoch "
            f"{epoch + 1}, past {DIVERGENCE_FACTOR:.0e} times their initial norm (or 1 "
            f"if smaller). {_DIVERGED}"
        )


def _total_norm(params):
    """Euclidean norm of all ``params`` together, as a float32 tensor."""
    norms = [torch.linalg.vector_norm(p.detach().float()) for p in params]
    return torch.linalg.vector_norm(torch.stack(norms))


def _check_finite_parameters(modules, desc, epoch):
    """Raise if a step left NaN or inf in the weights (after its loss was taken)."""
    params = [p.detach() for m in modules for p in m.parameters() if p.is_floating_point()]
    if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
        raise FloatingPointError(
            f"{desc}: the network's weights became NaN or infinite in epoch {epoch}. "
            f"{_DIVERGED}"
        )
