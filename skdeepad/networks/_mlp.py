"""Bias-free multilayer perceptrons (Deep SAD paper, Appendix D)."""

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MLP", "MLPDecoder"]


def _block(n_in, n_out, negative_slope):
    # Linear -> BatchNorm (no affine parameters) -> leaky ReLU, all bias-free:
    # a bias or a learnable BN shift would let Deep SVDD collapse to a constant.
    return [
        nn.Linear(n_in, n_out, bias=False),
        nn.BatchNorm1d(n_out, eps=1e-4, affine=False),
        nn.LeakyReLU(negative_slope),
    ]


def glorot_init(module):
    """Glorot-uniform weights for every linear and (de)convolution layer.

    The Deep SAD paper (Appendix E) says its autoencoders are initialised this
    way; the authors' code, which produced the paper's tables, keeps PyTorch's
    default initialisation instead (``init="default"`` of the estimators).
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


class MLP(nn.Module):
    """Bias-free MLP encoder: ``in -> h_1 -> (...) -> h_k``.

    Each hidden layer is ``Linear -> BatchNorm1d(affine=False) -> LeakyReLU``;
    the last layer (the representation, ``hidden_layer_sizes[-1]`` units) is a
    plain bias-free linear map with no normalisation or activation.  Inputs of
    any shape ``(n, *input_shape)`` are flattened.

    Parameters
    ----------
    in_features : int
        Number of input features (after flattening).
    hidden_layer_sizes : sequence of int
        Units per layer; the last entry is the representation dimension.
    negative_slope : float, default=0.1
        Leakiness of the leaky ReLU (the paper's alpha = 0.1).
    """

    def __init__(self, in_features, hidden_layer_sizes, negative_slope=0.1):
        super().__init__()
        sizes = [in_features, *hidden_layer_sizes]
        layers = [nn.Flatten()]
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
            layers += _block(n_in, n_out, negative_slope)
        layers.append(nn.Linear(sizes[-2], sizes[-1], bias=False))
        self.net = nn.Sequential(*layers)
        self.rep_dim = sizes[-1]
        self.negative_slope = negative_slope
        self._folded = (None, None)

    def forward(self, x):
        if self.training or torch.is_grad_enabled():
            return self.net(x)
        # Inference: the same function with each BatchNorm folded into the
        # linear layer before it, about twice as fast on the CPU.
        x = x.flatten(1)
        *hidden, last = self._folded_layers()
        for weight, bias in hidden:
            x = F.leaky_relu_(F.linear(x, weight, bias), self.negative_slope)
        return F.linear(x, last[0])

    def _folded_layers(self):
        """``[(W, b), ..., (W_last, None)]`` with BN statistics folded in, cached
        until any parameter or buffer changes (tracked by tensor versions)."""
        tensors = [*self.parameters(), *self.buffers()]
        version = tuple(t._version for t in tensors) + tuple(t.data_ptr() for t in tensors)
        if self._folded[0] != version:
            linears = [m for m in self.net if isinstance(m, nn.Linear)]
            norms = [m for m in self.net if isinstance(m, nn.BatchNorm1d)]
            layers = []
            for linear, bn in zip(linears, norms):
                scale = torch.rsqrt(bn.running_var + bn.eps)
                layers.append((linear.weight * scale[:, None], -bn.running_mean * scale))
            layers.append((linears[-1].weight, None))
            self._folded = (version, [(w.detach(), b if b is None else b.detach())
                                      for w, b in layers])
        return self._folded[1]

    def __getstate__(self):
        state = super().__getstate__().copy()
        state["_folded"] = (None, None)  # a cache, never persisted
        return state


class MLPDecoder(nn.Module):
    """Bias-free MLP decoder, the mirror image of :class:`MLP`.

    Parameters
    ----------
    output_shape : tuple of int
        Shape of one reconstructed sample.
    hidden_layer_sizes : sequence of int
        The encoder's sizes (the decoder traverses them in reverse).
    negative_slope : float, default=0.1
        Leakiness of the leaky ReLU.
    output_activation : {"sigmoid", "identity"}, default="sigmoid"
        Sigmoid for data scaled to [0, 1] (the paper's setting), identity
        otherwise.
    """

    def __init__(self, output_shape, hidden_layer_sizes, negative_slope=0.1,
                 output_activation="sigmoid"):
        super().__init__()
        sizes = list(hidden_layer_sizes)[::-1]
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += _block(n_in, n_out, negative_slope)
        layers.append(nn.Linear(sizes[-1], math.prod(output_shape), bias=False))
        if output_activation == "sigmoid":
            layers.append(nn.Sigmoid())
        self.net = nn.Sequential(*layers)
        self.output_shape = tuple(output_shape)

    def forward(self, z):
        return self.net(z).reshape(-1, *self.output_shape)


