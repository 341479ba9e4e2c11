"""Uniform adapters around the detectors compared by ``benchmarks/speed.py``.

Every adapter exposes the same three things:

``fit(X, y_partial)``
    Train on float32 ``X`` (already standardised by the benchmark) with the
    semi-supervised labels ``y_partial`` (+1 labelled normal, -1 labelled
    anomaly, 0 unlabelled).  Unsupervised methods ignore the labels.
``epoch_times``, ``epoch_cpu_times``
    After ``fit``: one wall-clock duration in seconds per training epoch,
    measured as close to the library's own epoch loop as possible without
    editing it (see each class), and the CPU time of the calling thread over
    the same span (``time.thread_time``; with one torch thread all the work
    runs on it, and other processes on the machine do not inflate it).
    ``None`` entries are epochs whose start could not be observed.
``anomaly_score(X)``
    Scores on ``X``; higher means more anomalous for every adapter, whatever
    the sign convention of the wrapped library.

The peers are configured to match the reference network as closely as their
parameters allow; every remaining difference is listed in ``MISMATCHES`` and
printed under the result table.  Nothing in a peer's code is modified: the
only hooks are an instance attribute (DeepOD's per-epoch ``epoch_update``
callback), a time-stamping ``sys.stdout`` while PyOD prints its per-epoch
line, and skdeepad's own ``callbacks`` parameter.
"""

import contextlib
import inspect
import io
import math
import time

import numpy as np
import torch
from torch import nn

from skdeepad.callbacks import Callback

__all__ = [
    "ADAPTERS",
    "MISMATCHES",
    "BareLoop",
    "DeepODDeepSAD",
    "DeepODDeepSVDD",
    "OursDeepSAD",
    "OursDeepSVDD",
    "PyODDeepSVDD",
    "peer_versions",
]


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------
# The floor: a bare eager PyTorch loop over the reference network.
# ---------------------------------------------------------------------------


def reference_mlp(n_features, hidden=(32, 16), rep_dim=8, negative_slope=0.1):
    """Linear(no bias) -> BN(affine=False, eps=1e-4) -> LeakyReLU per hidden
    layer, then a bias-free linear map to the representation."""
    layers = []
    n_in = n_features
    for n_out in hidden:
        layers += [
            nn.Linear(n_in, n_out, bias=False),
            nn.BatchNorm1d(n_out, eps=1e-4, affine=False),
            nn.LeakyReLU(negative_slope),
        ]
        n_in = n_out
    layers.append(nn.Linear(n_in, rep_dim, bias=False))
    return nn.Sequential(*layers)


class BareLoop:
    """Hand-written eager training loop, the floor for eager PyTorch code.

    The data tensor is moved to the device once; each epoch draws
    ``torch.randperm`` from a seeded ``torch.Generator`` and slices the
    permuted index into contiguous batches (the final partial batch is kept;
    a final batch of one sample is folded into the previous one because
    BatchNorm cannot train on a single sample).  The loss is Deep SAD's:
    ``d`` for unlabelled samples, ``eta * (d + 1e-6) ** label`` for labelled
    ones, ``d`` the squared distance to a fixed centre ``c`` (mean initial
    representation of the rows not labelled anomalous, coordinates pushed to
    at least 0.1 in magnitude).  Weights are Glorot-uniform, as skdeepad's.  With
    ``semi_supervised=False`` the loss is plain ``mean(d)`` (Deep SVDD).
    The per-batch loss is accumulated on the device and read once per epoch.
    """

    library = "bare torch loop"

    def __init__(self, *, semi_supervised, hidden=(32, 16), rep_dim=8, epochs=20,
                 batch_size=128, lr=1e-4, weight_decay=0.5e-6, eta=1.0,
                 device="cpu", random_state=0, adam_kwargs=None, compile_net=False,
                 weighted_sad_loss=False):
        self.method = "Deep SAD loss" if semi_supervised else "Deep SVDD loss"
        if adam_kwargs and adam_kwargs.get("fused"):
            self.method += ", Adam(fused=True)"
        self.semi_supervised = semi_supervised
        self.hidden, self.rep_dim = tuple(hidden), rep_dim
        self.epochs, self.batch_size = epochs, batch_size
        self.lr, self.weight_decay, self.eta = lr, weight_decay, eta
        self.device, self.random_state = torch.device(device), random_state
        # what-if variants for the profile only (not used in the tables)
        self.adam_kwargs, self.compile_net = dict(adam_kwargs or {}), compile_net
        self.weighted_sad_loss = weighted_sad_loss

    def fit(self, X, y_partial=None):
        dev = self.device
        torch.manual_seed(self.random_state)
        X = torch.as_tensor(X, dtype=torch.float32).to(dev)
        n = X.shape[0]
        if self.semi_supervised:
            y = torch.as_tensor(np.asarray(y_partial), dtype=torch.float32).to(dev)
        net = reference_mlp(X.shape[1], self.hidden, self.rep_dim).to(dev)
        for layer in net:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
        net.eval()
        with torch.no_grad():
            c = net(X[y != -1] if self.semi_supervised else X).mean(0)
        c[(c.abs() < 0.1) & (c < 0)] = -0.1
        c[(c.abs() < 0.1) & (c >= 0)] = 0.1
        self.c_, self.net_ = c, net
        opt = torch.optim.Adam(net.parameters(), lr=self.lr,
                               weight_decay=self.weight_decay, **self.adam_kwargs)
        semi, eta = self.semi_supervised, self.eta

        def batch_loss(xb, yb):
            d = ((net(xb) - c) ** 2).sum(1)
            if semi:
                return torch.where(yb == 0, d, eta * (d + 1e-6) ** yb).mean()
            return d.mean()

        if semi and self.weighted_sad_loss:
            # The same loss for labels in {-1, 0, +1} without where/pow:
            # w1 * d + w2 / (d + eps) + w0, per-row weights precomputed once
            # (w1 = 1 unlabelled, eta known normal, 0 known anomaly; w2 = eta
            # for known anomalies; w0 = eta * eps for known normals).
            w = torch.stack([torch.where(y == 0, 1.0, torch.where(y == 1, eta, 0.0)),
                             torch.where(y == -1, eta, 0.0),
                             torch.where(y == 1, eta * 1e-6, 0.0)], 1)
            y = w

            def batch_loss(xb, wb):
                d = ((net(xb) - c) ** 2).sum(1)
                return (wb[:, 0] * d + wb[:, 1] / (d + 1e-6) + wb[:, 2]).mean()

        if self.compile_net:  # forward, loss and (via AOTAutograd) backward
            batch_loss = torch.compile(batch_loss)
        gen = torch.Generator(device=dev)
        gen.manual_seed(self.random_state)
        starts = list(range(0, n, self.batch_size))
        if len(starts) > 1 and n - starts[-1] == 1:
            starts.pop()
        bounds = list(zip(starts, starts[1:] + [n]))
        self.epoch_times, self.epoch_cpu_times, self.losses = [], [], []
        for _ in range(self.epochs):
            _sync(dev)
            tic, cpu_tic = time.perf_counter(), time.thread_time()
            net.train()
            perm = torch.randperm(n, generator=gen, device=dev)
            total = torch.zeros((), device=dev)
            for a, b in bounds:
                idx = perm[a:b]
                loss = batch_loss(X[idx], y[idx] if semi else None)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach() * (b - a)
            self.losses.append((total / n).item())
            self.epoch_times.append(time.perf_counter() - tic)
            self.epoch_cpu_times.append(time.thread_time() - cpu_tic)
        return self

    def anomaly_score(self, X):
        self.net_.eval()
        with torch.inference_mode():
            z = self.net_(torch.as_tensor(X, dtype=torch.float32).to(self.device))
            return ((z - self.c_) ** 2).sum(1).cpu().numpy()


# ---------------------------------------------------------------------------
# skdeepad
# ---------------------------------------------------------------------------


class _EpochCPUTime(Callback):
    """The thread's CPU seconds of each epoch of skdeepad's last training loop.

    A callback (``callbacks=[...]``): it notes ``time.thread_time()`` when the
    loop starts and after each epoch; a pretraining loop before the main one
    is forgotten when the main one starts.
    """

    def on_train_begin(self, loop):
        self.stamps = [time.thread_time()]

    def on_epoch_end(self, loop, record):
        self.stamps.append(time.thread_time())

    @property
    def epochs(self):
        return [b - a for a, b in zip(self.stamps, self.stamps[1:])]


class _Ours:
    library = "skdeepad"
    cls_name = None

    def __init__(self, *, hidden=(32, 16), rep_dim=8, epochs=20, batch_size=128,
                 lr=1e-4, weight_decay=0.5e-6, device="cpu", random_state=0,
                 pretrain=False, pretrain_epochs=None, **extra):
        import skdeepad

        cls = getattr(skdeepad, self.cls_name)
        params = dict(hidden_layer_sizes=(*hidden, rep_dim), epochs=epochs,
                      batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                      pretrain=pretrain, device=device, random_state=random_state,
                      **extra)
        accepted = inspect.signature(cls).parameters
        if "lr_milestones" in accepted:
            params.setdefault("lr_milestones", ())
        if pretrain and pretrain_epochs is not None:
            params["pretrain_epochs"] = pretrain_epochs
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise TypeError(f"skdeepad.{self.cls_name} has no parameter(s) {unknown}")
        self.device = device
        self.estimator = cls(**params)

    def _fit(self, X, y_partial):
        raise NotImplementedError

    def fit(self, X, y_partial=None):
        timer = _EpochCPUTime()
        self.estimator.set_params(callbacks=[timer])
        self._fit(X, y_partial)
        _sync(self.device)
        history = self.estimator.history_
        self.epoch_cpu_times = timer.epochs
        # With pretraining the history may hold the autoencoder epochs too;
        # only records of the main training phase carry "train_loss".
        self.epoch_times = [rec["dur"] for rec in history]
        self.losses = [rec.get("train_loss") for rec in history]
        return self

    def anomaly_score(self, X):
        # score_samples: higher = more normal (minus the squared distance).
        return -np.asarray(self.estimator.score_samples(X))


class OursDeepSAD(_Ours):
    method = "DeepSAD"
    cls_name = "DeepSAD"

    def _fit(self, X, y_partial):
        self.estimator.fit(X, y_partial)


class OursDeepSVDD(_Ours):
    method = "DeepSVDD"
    cls_name = "DeepSVDD"

    def __init__(self, **kw):
        super().__init__(objective="one-class", **kw)

    def _fit(self, X, y_partial):
        self.estimator.fit(X)


# ---------------------------------------------------------------------------
# PyOD
# ---------------------------------------------------------------------------


class _EpochStamps(io.TextIOBase):
    """A stdout that remembers when each line starting with ``prefix`` ends."""

    def __init__(self, prefix):
        self.prefix, self.stamps, self.cpu_stamps, self._line = prefix, [], [], ""

    def writable(self):
        return True

    def write(self, text):
        now, cpu_now = time.perf_counter(), time.thread_time()
        self._line += text
        while "\n" in self._line:
            line, self._line = self._line.split("\n", 1)
            if line.startswith(self.prefix):
                self.stamps.append(now)
                self.cpu_stamps.append(cpu_now)
        return len(text)


class PyODDeepSVDD:
    """``pyod.models.deep_svdd.DeepSVDD`` (one-class, no autoencoder).

    Per batch PyOD draws from ``DataLoader(TensorDataset(X, X), shuffle=True)``
    (per-sample indexing, ``default_collate`` stacks 2 x batch_size rows),
    runs the forward pass, adds ``1e-6 * sum(||W||)`` over all weights to the
    loss (three extra norms and their backward), steps Adam and calls
    ``loss.item()``.  After every epoch in which the summed loss improved it
    deep-copies the ``state_dict``.  It never moves tensors to a device: the
    model always runs on the CPU.

    Epoch timing: PyOD prints one line per epoch at ``verbose=1``; a
    time-stamping ``sys.stdout`` records when each line is written, and the
    epoch durations are the gaps between consecutive lines (the first
    epoch's start is not observable and is reported as ``None``).
    """

    library = "PyOD"
    method = "DeepSVDD"

    def __init__(self, *, hidden=(32, 16), rep_dim=8, epochs=20, batch_size=128,
                 lr=1e-4, weight_decay=0.5e-6, device="cpu", random_state=0):
        self.kw = dict(hidden_neurons=[*hidden, rep_dim], hidden_activation="leaky_relu",
                       epochs=epochs, batch_size=batch_size, learning_rate=lr,
                       l2_regularizer=weight_decay, dropout_rate=0.0,
                       preprocessing=False, use_ae=False, random_state=random_state,
                       verbose=1)
        self.device = device  # ignored by PyOD: always CPU

    def fit(self, X, y_partial=None):
        from pyod.models.deep_svdd import DeepSVDD

        np.random.seed(self.kw["random_state"])  # PyOD shuffles with np.random
        self.estimator = DeepSVDD(n_features=X.shape[1], **self.kw)
        stamps = _EpochStamps("Epoch ")
        with contextlib.redirect_stdout(stamps):
            self.estimator.fit(X)
        ends, cpu_ends = stamps.stamps, stamps.cpu_stamps
        self.epoch_times = [None] + [b - a for a, b in zip(ends, ends[1:])]
        self.epoch_cpu_times = [None] + [b - a for a, b in zip(cpu_ends, cpu_ends[1:])]
        return self

    def anomaly_score(self, X):
        return np.asarray(self.estimator.decision_function(X))  # higher = outlier


# ---------------------------------------------------------------------------
# DeepOD
# ---------------------------------------------------------------------------


class _DeepOD:
    """Shared timing hook for DeepOD's ``BaseDeepAD._training``.

    ``_training`` calls ``self.epoch_update()`` once at the end of every
    epoch; an instance attribute of that name records the time.  The start
    of epoch 1 is the moment ``training_prepare`` returns (optimizer creation
    is all that happens in between).
    """

    library = "DeepOD"
    cls_name = None

    def __init__(self, *, hidden=(32, 16), rep_dim=8, epochs=20, batch_size=128,
                 lr=1e-4, weight_decay=None, device="cpu", random_state=0):
        # weight_decay: DeepOD hard-codes Adam(weight_decay=1e-5).
        self.kw = dict(epochs=epochs, batch_size=batch_size, lr=lr, rep_dim=rep_dim,
                       hidden_dims=",".join(str(h) for h in hidden), act="LeakyReLU",
                       bias=False, epoch_steps=-1, prt_steps=10 ** 9, device=device,
                       verbose=0, random_state=random_state)
        self.device = device

    def _labels(self, y_partial):
        return None

    def fit(self, X, y_partial=None):
        import deepod.models.tabular as tab

        est = getattr(tab, self.cls_name)(**self.kw)
        stamps, cpu_stamps = [], []
        prepare = est.training_prepare

        def timed_prepare(*args, **kwargs):
            out = prepare(*args, **kwargs)
            _sync(self.device)
            stamps.append(time.perf_counter())
            cpu_stamps.append(time.thread_time())
            return out

        def epoch_end():
            _sync(self.device)
            stamps.append(time.perf_counter())
            cpu_stamps.append(time.thread_time())

        est.training_prepare = timed_prepare
        est.epoch_update = epoch_end
        est.fit(X, self._labels(y_partial))
        self.estimator = est
        self.epoch_times = [b - a for a, b in zip(stamps, stamps[1:])]
        self.epoch_cpu_times = [b - a for a, b in zip(cpu_stamps, cpu_stamps[1:])]
        return self

    def anomaly_score(self, X):
        return np.asarray(self.estimator.decision_function(X))  # higher = outlier


class DeepODDeepSAD(_DeepOD):
    """``deepod.models.tabular.DeepSAD``.

    Per batch: ``DataLoader(TensorDataset(X, y), sampler=WeightedRandomSampler)``
    with replacement, the sampler weighting the labelled anomalies as much as
    all unlabelled samples together (about half of every batch is a labelled
    anomaly); per-sample indexing and ``default_collate``; ``.float().to(device)``
    and ``.long().to(device)`` of each batch (a host-to-device copy per batch
    on a GPU); forward, Deep SAD loss, ``zero_grad``/``backward``/``step`` and
    ``loss.item()`` (a device synchronisation per batch on a GPU).  Labelled
    normals are not supported: only ``y == 1`` (known anomaly) is used.
    """

    method = "DeepSAD"
    cls_name = "DeepSAD"

    def _labels(self, y_partial):
        return (np.asarray(y_partial) == -1).astype(np.int64)


class DeepODDeepSVDD(_DeepOD):
    """``deepod.models.tabular.DeepSVDD``.

    Per batch: ``DataLoader(X_numpy, shuffle=True)`` (per-row numpy indexing,
    ``default_collate`` turns every row into a tensor and stacks them),
    ``.float().to(device)``, forward, loss, ``zero_grad``/``backward``/``step``
    and ``loss.item()``.
    """

    method = "DeepSVDD"
    cls_name = "DeepSVDD"


ADAPTERS = {
    "ours-sad": OursDeepSAD,
    "ours-svdd": OursDeepSVDD,
    "bare-sad": lambda **kw: BareLoop(semi_supervised=True, **kw),
    "bare-svdd": lambda **kw: BareLoop(semi_supervised=False, **kw),
    # the same loops with the optimizer skdeepad uses on torch >= 2.4
    "bare-sad-fused": lambda **kw: BareLoop(semi_supervised=True,
                                            adam_kwargs={"fused": True}, **kw),
    "bare-svdd-fused": lambda **kw: BareLoop(semi_supervised=False,
                                             adam_kwargs={"fused": True}, **kw),
    "pyod-svdd": PyODDeepSVDD,
    "deepod-sad": DeepODDeepSAD,
    "deepod-svdd": DeepODDeepSVDD,
}

MISMATCHES = {
    "pyod-svdd": [
        "no BatchNorm layers",
        "LeakyReLU slope 0.01 (PyOD's fixed default), not 0.1",
        "a LeakyReLU after the output layer too (PyOD always applies the hidden "
        "activation to the representation)",
        "Dropout(p=0) modules after the hidden layers (no-ops, still called)",
        "adds 1e-6 * sum of weight norms to every batch loss (besides Adam's weight decay)",
        "keeps the weights of the epoch with the lowest summed loss (deep copy of the "
        "state_dict whenever it improves)",
        "shuffles with a DataLoader over a TensorDataset (per-sample indexing + collate)",
        "runs on the CPU whatever device is asked for",
        "PyTorch's default (Kaiming-uniform) weight initialisation, not Glorot-uniform",
    ],
    "deepod-sad": [
        "no BatchNorm layers",
        "LeakyReLU slope 0.01 (DeepOD instantiates torch.nn.LeakyReLU() with "
        "its defaults), not 0.1",
        "Adam weight decay fixed at 1e-5 by DeepOD (others: 0.5e-6)",
        "PyTorch's default weight initialisation, not Glorot-uniform",
        "the centre is the mean over all training rows, labelled anomalies included",
        "WeightedRandomSampler with replacement: labelled anomalies drawn as "
        "often as all unlabelled rows together (about half of each batch)",
        "labelled normals (+1) are not supported, treated as unlabelled",
        "lr 1e-4 as for everyone (DeepOD's own default is 1e-3), which matters for its AUC",
        "per-sample DataLoader indexing + collate, a .to(device) copy and a "
        "loss.item() per batch",
    ],
    "deepod-svdd": [
        "no BatchNorm layers",
        "LeakyReLU slope 0.01, not 0.1",
        "Adam weight decay fixed at 1e-5 by DeepOD (others: 0.5e-6)",
        "PyTorch's default weight initialisation, not Glorot-uniform",
        "lr 1e-4 as for everyone (DeepOD's own default is 1e-3)",
        "DataLoader over the numpy array (per-row indexing + collate), a "
        ".to(device) copy and a loss.item() per batch",
    ],
}


def peer_versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("pyod", "deepod", "numba"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def median_epoch(times, skip_first=True):
    """Median of the epoch durations, without the first epoch by default."""
    vals = [t for t in (times[1:] if skip_first else times) if t is not None]
    return float(np.median(vals)) if vals else math.nan
