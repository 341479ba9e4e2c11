"""Residual adapters: K gated 1x1 corrections beside a frozen convolution.

Rebuffi et al. (2018) add a small linear correction to every convolution of
a pretrained network; Deecke et al. (2020, "dynamic residual adapters")
generalise it to K corrections mixed by a per-sample gate.  ADRA (Deecke,
Ruff, Vandermeulen, Bilen, 2020, Eqs. 2-3) uses them to adapt a frozen
backbone to anomaly detection:

    y = W_theta * x + sum_k g_k(x) A_k * x,   g(x) = normalize(L(GAP(x)))

where W_theta is the frozen convolution, A_k are bias-free 1x1 convolutions
with the same stride, and the sum goes into whatever follows the convolution
(the BatchNorm in ResNets).  :func:`add_residual_adapters` inserts them into
any CNN built from :class:`torch.nn.Conv2d` layers.
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ResidualAdapter", "add_residual_adapters", "sparsemax"]

_GATES = ("softmax", "sparsemax")


def sparsemax(z):
    """Euclidean projection of each row of ``z`` onto the probability simplex.

    Martins & Astudillo (2016): like softmax it returns non-negative weights
    that sum to one, but it can set some of them exactly to zero.  The gate of
    the authors' later adapter code (LatentDomainLearning) uses it.
    """
    z_sorted, _ = torch.sort(z, dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cumsum = z_sorted.cumsum(dim=-1)
    in_support = 1 + k * z_sorted > cumsum
    k_z = in_support.sum(dim=-1, keepdim=True)
    tau = (cumsum.gather(-1, k_z - 1) - 1) / k_z.to(z.dtype)
    return torch.clamp(z - tau, min=0)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class ResidualAdapter(nn.Module):
    """A frozen convolution plus ``n_adapters`` gated 1x1 corrections (Eq. 3).

    Parameters
    ----------
    conv : torch.nn.Conv2d
        The pretrained convolution.  It is used as given (not copied) and its
        parameters are frozen (``requires_grad=False``).
    n_adapters : int, default=1
        Number K of parallel bias-free 1x1 convolutions.  With K = 1 there is
        no gate (Eq. 2).
    gate : {"softmax", "sparsemax"}, default="softmax"
        Normalisation of the gate's logits for K > 1.
    init : {"he", "zeros"}, default="he"
        Initial adapter weights: He-normal ``N(0, 2 / out_channels)``, the
        random initialisation of the paper and of the authors' code, or zeros,
        which starts the adapted network exactly at the pretrained one.

    Attributes
    ----------
    conv : torch.nn.Conv2d
        The frozen convolution.
    adapters : torch.nn.Conv2d
        The K corrections as one 1x1 convolution with ``K * out_channels``
        outputs and the stride of ``conv``.
    gate_linear : torch.nn.Linear or None
        ``in_channels -> K`` map of the globally average-pooled input (K > 1).

    Notes
    -----
    The adapter sees the input pixel at the centre of each receptive field
    of ``conv``: for a "same"-padded convolution this is the plain strided
    1x1 convolution of the paper; for other paddings the input is cropped
    (or zero-padded) so that both outputs have the same size and stay
    aligned.
    """

    def __init__(self, conv, n_adapters=1, gate="softmax", init="he"):
        super().__init__()
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"ResidualAdapter wraps an nn.Conv2d, got {type(conv).__name__}.")
        if gate not in _GATES:
            raise ValueError(f"gate must be one of {_GATES}; got {gate!r}.")
        if init not in ("he", "zeros"):
            raise ValueError(f"init must be 'he' or 'zeros'; got {init!r}.")
        if int(n_adapters) < 1:
            raise ValueError(f"n_adapters must be a positive integer; got {n_adapters!r}.")
        self.conv = conv
        for p in conv.parameters():
            p.requires_grad_(False)
        self.n_adapters, self.gate = int(n_adapters), gate
        out = conv.out_channels
        self.adapters = nn.Conv2d(conv.in_channels, self.n_adapters * out, 1,
                                  stride=conv.stride, bias=False)
        self.adapters.to(device=conv.weight.device, dtype=conv.weight.dtype)
        if init == "he":
            nn.init.normal_(self.adapters.weight, 0.0, math.sqrt(2.0 / out))
        else:
            nn.init.zeros_(self.adapters.weight)
        self.gate_linear = None
        if self.n_adapters > 1:
            self.gate_linear = nn.Linear(conv.in_channels, self.n_adapters).to(conv.weight.device)
        self._offsets = self._alignment(conv)

    @staticmethod
    def _alignment(conv):
        """Per spatial axis, how far the receptive field's centre is inside the input."""
        if isinstance(conv.padding, str):  # "same" (stride 1 only) or "valid"
            pad = (0, 0) if conv.padding == "valid" else None
        else:
            pad = _pair(conv.padding)
        offsets = []
        for axis in range(2):
            reach = conv.dilation[axis] * (conv.kernel_size[axis] - 1)
            offsets.append(0 if pad is None else reach // 2 - pad[axis])
        return tuple(offsets)

    def gates(self, x):
        """Gate weights g(x), shape ``(n, K)``; each row sums to one."""
        if self.gate_linear is None:
            return torch.ones(len(x), 1, device=x.device, dtype=x.dtype)
        logits = self.gate_linear(x.mean(dim=(2, 3)))
        return torch.softmax(logits, dim=1) if self.gate == "softmax" else sparsemax(logits)

    def _aligned_input(self, x):
        oh, ow = self._offsets
        if oh > 0 or ow > 0:
            h, w = x.shape[-2:]
            x = x[..., max(oh, 0):h - max(oh, 0), max(ow, 0):w - max(ow, 0)]
        if oh < 0 or ow < 0:
            x = F.pad(x, (max(-ow, 0),) * 2 + (max(-oh, 0),) * 2)
        return x

    def forward(self, x):
        y = self.conv(x)
        # A strided 1x1 convolution is a matrix product on the strided pixels.
        x_a = self._aligned_input(x)[..., ::self.adapters.stride[0], ::self.adapters.stride[1]]
        n, c, h, w = x_a.shape
        kernels = self.adapters.weight.reshape(self.n_adapters, -1, c)
        if self.n_adapters == 1:
            mixed = kernels[0]
        else:
            # sum_k g_k(x) (A_k * x) = (sum_k g_k(x) A_k) * x: mix the K kernels per
            # sample, then one batched product, instead of K full feature maps.
            mixed = torch.einsum("nk,koc->noc", self.gates(x), kernels)
        a = torch.matmul(mixed, x_a.reshape(n, c, h * w)).reshape(n, -1, h, w)
        return y + a[..., :y.shape[-2], :y.shape[-1]]  # even kernels: drop the extra row/column

    def extra_repr(self):
        return f"n_adapters={self.n_adapters}, gate={self.gate!r}"


def _is_batch_norm(module):
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def add_residual_adapters(network, n_adapters=1, gate="softmax", train_bn=True, copy_network=True,
                          init="he"):
    """Freeze ``network`` and put residual adapters beside its convolutions.

    Every :class:`torch.nn.Conv2d` whose kernel is larger than 1x1 is replaced
    by a :class:`ResidualAdapter` around it.  Every parameter of the original
    network is frozen, except the BatchNorm scale and shift when
    ``train_bn=True`` (as in the ADRA code).  BatchNorm running statistics
    keep being updated in training mode: the adapters change the
    distribution the BatchNorm layers see.

    Parameters
    ----------
    network : torch.nn.Module
        Any CNN made of ``nn.Conv2d`` layers (ours, torchvision's, a user's).
    n_adapters : int, default=1
        Corrections K per convolution.
    gate : {"softmax", "sparsemax"}, default="softmax"
        Gate normalisation for K > 1.
    train_bn : bool, default=True
        Whether BatchNorm affine parameters stay trainable.
    copy_network : bool, default=True
        Work on a deep copy (the given network is left untouched).
    init : {"he", "zeros"}, default="he"
        Initial adapter weights (see :class:`ResidualAdapter`).

    Returns
    -------
    adapted : torch.nn.Module
        The network with adapters; only adapters, gates (and BatchNorm
        affine parameters) require gradients.

    Examples
    --------
    >>> import torch
    >>> from skdeepad.networks import ResNet26, add_residual_adapters
    >>> net = add_residual_adapters(ResNet26(1, widths=(4, 8, 16)), n_adapters=2)
    >>> sum(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) for m in net.modules())
    25
    """
    if copy_network:
        network = copy.deepcopy(network)
    targets = [name for name, m in network.named_modules()
               if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) != (1, 1)]
    if not targets:
        raise ValueError(
            "The network has no nn.Conv2d with a kernel larger than 1x1, so there is "
            "nothing to adapt; residual adaptation needs a convolutional backbone."
        )
    for p in network.parameters():
        p.requires_grad_(False)
    if train_bn:
        for m in network.modules():
            if _is_batch_norm(m):
                for p in m.parameters():
                    p.requires_grad_(True)
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = network.get_submodule(parent_name) if parent_name else network
        setattr(parent, child, ResidualAdapter(getattr(parent, child), n_adapters, gate, init))
    return network
