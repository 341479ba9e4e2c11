"""Encoder, generator and mirrored critic of AMA (Somepalli et al., UAI 2021).

Two families, chosen from the shape of one sample by :func:`make_ama_networks`:

* **Convolutional** (square images of side at most 32, any number of
  channels), after the authors' CIFAR-10 code (``cifar_models_bNorm.py``):
  a DCGAN-style encoder (three 4x4 stride-2 convolutions with BatchNorm and
  LeakyReLU(0.2), then a 4x4 convolution to the code), the SN-GAN ResNet
  generator for 32x32 (a linear map to 4x4, three up-sampling residual
  blocks, BN-ReLU-conv-tanh) and the SN-GAN ResNet critic for 32x32 (an
  optimised down block, a down block, two plain blocks, ReLU, sum pooling
  and a bias-free linear head), with spectral normalisation on every critic
  layer.  Images smaller than 32x32 (MNIST's 28x28, ``load_digits``' 8x8)
  are padded to 32x32 with a constant inside the encoder and the critic, and
  the generator's 32x32 output is cropped back to the input size, so the
  estimator sees every image at its own size.  ``width`` scales every channel
  count (1.0: the code's 64-128-256 encoder, 256-channel generator,
  128-channel critic).
* **MLP** for tabular data, an extension outside the paper: the encoder and
  generator are MLPs with BatchNorm (LeakyReLU(0.2) / ReLU), the critic an
  MLP with spectral normalisation and LeakyReLU(0.2) and no BatchNorm; a
  "mirror pair" is then the concatenation of two feature vectors.

Every critic exposes ``features(pair)``, the penultimate representation f
used by AMA's R-score (Eq. 5), and ``forward(pair) = head(features(pair))``.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SpectralNorm",
    "AMAConvCritic",
    "AMAConvEncoder",
    "AMAConvGenerator",
    "AMAMLPCritic",
    "AMAMLPEncoder",
    "AMAMLPGenerator",
    "make_ama_networks",
]

#: Side of the images the convolutional family works on internally.
CONV_SIDE = 32


def _xavier(layer, gain):
    nn.init.xavier_uniform_(layer.weight, gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


class _Pad(nn.Module):
    """Pad a square image of side ``side`` to 32x32 with a constant."""

    def __init__(self, side, value):
        super().__init__()
        total = CONV_SIDE - side
        self.pad = (total // 2, total - total // 2) * 2  # left, right, top, bottom
        self.value = float(value)

    def forward(self, x):
        if not any(self.pad):
            return x
        return F.pad(x, self.pad, value=self.value)


class SpectralNorm(nn.Module):
    """A linear or convolution layer with its weight divided by its spectral norm.

    Spectral normalisation (Miyato et al., 2018): ``sigma ~ u^T W v``
    estimated by one power iteration per forward in training mode (u and v
    are frozen in evaluation mode), the gradient flowing through ``W``
    only.  Written as a plain module (instead of torch's parametrisation)
    so that a critic pickles and deep-copies like any other module.

    Parameters
    ----------
    layer : torch.nn.Linear or torch.nn.Conv2d
        The wrapped layer; its ``weight`` stays the trainable parameter.
    eps : float, default=1e-12
        Floor of the norms in the power iteration.
    """

    def __init__(self, layer, eps=1e-12):
        super().__init__()
        self.layer, self.eps = layer, eps
        w = layer.weight.detach().flatten(1)
        u = F.normalize(torch.randn(w.shape[0]), dim=0, eps=eps)
        self.register_buffer("u", u)
        self.register_buffer("v", F.normalize(w.t() @ u, dim=0, eps=eps))

    def normalized_weight(self):
        w = self.layer.weight
        w_mat = w.flatten(1)
        # Copies, so that the next forward's in-place update of the buffers
        # cannot invalidate this forward's graph.
        u, v = self.u.clone(), self.v.clone()
        if self.training:
            with torch.no_grad():
                v = F.normalize(w_mat.t() @ u, dim=0, eps=self.eps)
                u = F.normalize(w_mat @ v, dim=0, eps=self.eps)
                self.u.copy_(u)
                self.v.copy_(v)
        sigma = torch.dot(u, w_mat @ v)
        return w / sigma

    def forward(self, x):
        layer, w = self.layer, self.normalized_weight()
        if isinstance(layer, nn.Conv2d):
            return F.conv2d(x, w, layer.bias, layer.stride, layer.padding, layer.dilation,
                            layer.groups)
        return F.linear(x, w, layer.bias)


def spectral_norm(layer):
    """Wrap ``layer`` in :class:`SpectralNorm`."""
    return SpectralNorm(layer)


def _check_square_image(input_shape):
    if len(input_shape) != 3 or input_shape[1] != input_shape[2] or input_shape[1] > CONV_SIDE:
        raise ValueError(
            "AMA's default convolutional networks take square images (C, H, W) with "
            f"H = W <= {CONV_SIDE} (smaller ones are padded to {CONV_SIDE}x{CONV_SIDE}); "
            f"got samples of shape {tuple(input_shape)}. Resize the images, or pass "
            "your own `encoder`, `generator` and `critic`."
        )


def _channels(base, width):
    return max(1, int(round(base * width)))


class AMAConvEncoder(nn.Module):
    """DCGAN-style encoder: (C, s, s), s <= 32 -> code of ``latent_dim``.

    Conv 4x4/2 (C -> 64w), BN, LReLU(0.2); conv 4x4/2 (-> 128w), BN, LReLU;
    conv 4x4/2 (-> 256w), BN, LReLU; conv 4x4/1/0 (-> latent_dim).  All
    convolutions are bias-free and the code is linear, as in the authors' code.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, s, s)`` with s <= 32.
    latent_dim : int
        Code size (the paper's nz).
    width : float, default=1.0
        Channel multiplier.
    pad_value : float, default=0.0
        Constant used to pad images smaller than 32x32.
    """

    def __init__(self, input_shape, latent_dim, width=1.0, pad_value=0.0):
        super().__init__()
        _check_square_image(input_shape)
        c = [input_shape[0]] + [_channels(b, width) for b in (64, 128, 256)]
        layers = [_Pad(input_shape[1], pad_value)]
        for c_in, c_out in zip(c[:-1], c[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out),
                       nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(c[-1], latent_dim, 4, 1, 0, bias=False), nn.Flatten()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class _UpBlock(nn.Module):
    """SN-GAN generator block: BN-ReLU-up-conv-BN-ReLU-conv + up-conv1x1 shortcut."""

    def __init__(self, ch):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(ch), nn.BatchNorm2d(ch)
        self.conv1 = _xavier(nn.Conv2d(ch, ch, 3, padding=1), math.sqrt(2))
        self.conv2 = _xavier(nn.Conv2d(ch, ch, 3, padding=1), math.sqrt(2))
        self.shortcut = _xavier(nn.Conv2d(ch, ch, 1), 1.0)

    def forward(self, x):
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class AMAConvGenerator(nn.Module):
    """SN-GAN ResNet generator for 32x32 (no spectral norm), cropped to the input size.

    Linear latent_dim -> 256w x 4 x 4; three up-sampling residual blocks
    (4 -> 8 -> 16 -> 32); BN, ReLU, conv 3x3 -> C; tanh (or identity).

    Parameters
    ----------
    output_shape : tuple of int
        ``(C, s, s)`` with s <= 32; the 32x32 output is centre-cropped to s.
    latent_dim : int
        Code size.
    width : float, default=1.0
        Channel multiplier (1.0: 256 channels).
    output_activation : {"tanh", "identity"}, default="tanh"
        tanh for data in [-1, 1] (the code's scaling).
    """

    def __init__(self, output_shape, latent_dim, width=1.0, output_activation="tanh"):
        super().__init__()
        _check_square_image(output_shape)
        ch = _channels(256, width)
        self.ch = ch
        self.linear = _xavier(nn.Linear(latent_dim, 4 * 4 * ch), 1.0)
        self.blocks = nn.Sequential(*(_UpBlock(ch) for _ in range(3)))
        self.bn = nn.BatchNorm2d(ch)
        self.conv = _xavier(nn.Conv2d(ch, output_shape[0], 3, padding=1), 1.0)
        self.tanh = output_activation == "tanh"
        side = output_shape[1]
        self.crop = slice((CONV_SIDE - side) // 2, (CONV_SIDE - side) // 2 + side)

    def forward(self, z):
        h = self.blocks(self.linear(z).reshape(len(z), self.ch, 4, 4))
        h = self.conv(F.relu(self.bn(h)))
        h = torch.tanh(h) if self.tanh else h
        return h[:, :, self.crop, self.crop]


class _DownBlock(nn.Module):
    """SN-GAN critic block; ``first`` is the "optimised" block that sees the input."""

    def __init__(self, c_in, c_out, down, first, sn):
        super().__init__()
        wrap = spectral_norm if sn else (lambda m: m)
        self.conv1 = wrap(_xavier(nn.Conv2d(c_in, c_out, 3, padding=1), math.sqrt(2)))
        self.conv2 = wrap(_xavier(nn.Conv2d(c_out, c_out, 3, padding=1), math.sqrt(2)))
        self.shortcut = None
        if down or c_in != c_out:
            self.shortcut = wrap(_xavier(nn.Conv2d(c_in, c_out, 1), 1.0))
        self.down, self.first = down, first

    def forward(self, x):
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        s = x
        if self.first:  # pool, then 1x1 conv
            s = self.shortcut(F.avg_pool2d(s, 2))
        elif self.shortcut is not None:  # 1x1 conv, then pool
            s = self.shortcut(s)
            s = F.avg_pool2d(s, 2) if self.down else s
        if self.down:
            h = F.avg_pool2d(h, 2)
        return h + s


class AMAConvCritic(nn.Module):
    """SN-GAN ResNet critic for 32x32 on channel-stacked pairs (2C channels).

    Optimised down block (-> 16x16), down block (-> 8x8), two plain blocks,
    ReLU, **sum** over H and W (the features f of the R-score), bias-free
    linear head.  No BatchNorm; spectral normalisation on every layer.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one critic input, ``(2C, s, s)`` for mirror pairs.
    width : float, default=1.0
        Channel multiplier (1.0: 128 channels).
    pad_value : float, default=0.0
        Constant used to pad inputs smaller than 32x32.
    spectral : bool, default=True
        Spectral normalisation (one power iteration per training forward).
    """

    def __init__(self, input_shape, width=1.0, pad_value=0.0, spectral=True):
        super().__init__()
        _check_square_image(input_shape)
        ch = _channels(128, width)
        self.pad = _Pad(input_shape[1], pad_value)
        self.blocks = nn.Sequential(
            _DownBlock(input_shape[0], ch, down=True, first=True, sn=spectral),
            _DownBlock(ch, ch, down=True, first=False, sn=spectral),
            _DownBlock(ch, ch, down=False, first=False, sn=spectral),
            _DownBlock(ch, ch, down=False, first=False, sn=spectral),
        )
        head = _xavier(nn.Linear(ch, 1, bias=False), 1.0)
        self.head = spectral_norm(head) if spectral else head

    def features(self, pair):
        return F.relu(self.blocks(self.pad(pair))).sum(dim=(2, 3))

    def forward(self, pair):
        return self.head(self.features(pair)).squeeze(1)


def _mlp(sizes, activation, batch_norm, sn=False):
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        linear = nn.Linear(n_in, n_out)
        layers.append(spectral_norm(linear) if sn else linear)
        if batch_norm:
            layers.append(nn.BatchNorm1d(n_out))
        layers.append(activation())
    return layers


class AMAMLPEncoder(nn.Module):
    """Tabular encoder: p -> hidden (Linear, BN, LeakyReLU(0.2)) -> linear code."""

    def __init__(self, n_features, latent_dim, hidden_layer_sizes):
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes]
        self.net = nn.Sequential(nn.Flatten(), *_mlp(sizes, lambda: nn.LeakyReLU(0.2), True),
                                 nn.Linear(sizes[-1], latent_dim))

    def forward(self, x):
        return self.net(x)


class AMAMLPGenerator(nn.Module):
    """Tabular generator: code -> reversed hidden (Linear, BN, ReLU) -> p."""

    def __init__(self, output_shape, latent_dim, hidden_layer_sizes, output_activation="identity"):
        super().__init__()
        sizes = [latent_dim, *list(hidden_layer_sizes)[::-1]]
        last = [nn.Linear(sizes[-1], math.prod(output_shape))]
        if output_activation == "tanh":
            last.append(nn.Tanh())
        self.net = nn.Sequential(*_mlp(sizes, nn.ReLU, True), *last)
        self.output_shape = tuple(output_shape)

    def forward(self, z):
        return self.net(z).reshape(len(z), *self.output_shape)


class AMAMLPCritic(nn.Module):
    """Tabular critic on concatenated pairs: spectral-normalised MLP, no BatchNorm.

    ``features`` is the last hidden layer's activation; the head is a
    bias-free linear unit.
    """

    def __init__(self, n_inputs, hidden_layer_sizes, spectral=True):
        super().__init__()
        sizes = [n_inputs, *hidden_layer_sizes]
        self.body = nn.Sequential(nn.Flatten(), *_mlp(sizes, lambda: nn.LeakyReLU(0.2), False,
                                                      sn=spectral))
        head = nn.Linear(sizes[-1], 1, bias=False)
        self.head = spectral_norm(head) if spectral else head

    def features(self, pair):
        return self.body(pair)

    def forward(self, pair):
        return self.head(self.features(pair)).squeeze(1)


def make_ama_networks(input_shape, latent_dim, *, critic_channels, hidden_layer_sizes=None,
                      width=1.0, pad_value=0.0, output_activation="tanh"):
    """Default encoder, generator and critic for samples of ``input_shape``.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one sample: ``(C, s, s)`` with s <= 32 (convolutional
        family) or ``(p,)`` (MLP family).
    latent_dim : int
        Code size.
    critic_channels : int
        Channels (or features) of one critic input per input channel
        multiple: 2 for mirror pairs, 1 for a plain critic.
    hidden_layer_sizes : tuple of int
        Hidden sizes of the MLP family (the encoder's; the generator mirrors
        them, the critic uses them as well).
    width : float, default=1.0
        Channel multiplier of the convolutional family.
    pad_value : float, default=0.0
        Padding constant for images smaller than 32x32.
    output_activation : {"tanh", "identity"}, default="tanh"
        Last activation of the generator.

    Returns
    -------
    encoder, generator, critic : torch.nn.Module

    Raises
    ------
    ValueError
        For images that are not square or larger than 32x32, and for any
        other shape than ``(C, s, s)`` or ``(p,)``.
    """
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) == 1:
        p = input_shape[0]
        return (AMAMLPEncoder(p, latent_dim, hidden_layer_sizes),
                AMAMLPGenerator(input_shape, latent_dim, hidden_layer_sizes, output_activation),
                AMAMLPCritic(critic_channels * p, hidden_layer_sizes))
    _check_square_image(input_shape)
    critic_shape = (critic_channels * input_shape[0], *input_shape[1:])
    return (AMAConvEncoder(input_shape, latent_dim, width, pad_value),
            AMAConvGenerator(input_shape, latent_dim, width, output_activation),
            AMAConvCritic(critic_shape, width, pad_value))
