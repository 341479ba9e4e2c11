"""The small ResNet of "cifar10-fast" (Page, 2018) and a mirrored decoder.

Mai et al. (2021) use this network, their reference [24], as the teacher and
student backbone for Cats vs. Dogs and CIFAR-10.  Layer by layer (conv_bn is
a 3x3 convolution with padding 1 and no bias, BatchNorm, ReLU)::

    prep    conv_bn c -> w0
    layer1  conv_bn w0 -> w1, max-pool 2, then x + conv_bn(conv_bn(x))
    layer2  conv_bn w1 -> w2, max-pool 2
    layer3  conv_bn w2 -> w3, max-pool 2, then x + conv_bn(conv_bn(x))
    pool    global max-pool, flatten                -> w3 features

with widths ``(64, 128, 256, 512)`` in the original.  The original pools
with a fixed 4x4 max-pool, which is the global max-pool for 32x32 inputs;
the global (adaptive) form here also accepts other sizes, e.g. 28x28 digits.
The classifier of cifar10-fast is not part of the backbone: every task head
(classifier, RotNet head, autoencoder bottleneck, distillation head) is put
on top of the pooled features by the estimator.
"""

import math

from torch import nn

__all__ = ["KDResNet", "KDResNetDecoder"]


def _conv_bn(c_in, c_out):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class _Residual(nn.Module):
    """``x + conv_bn(conv_bn(x))`` at constant width."""

    def __init__(self, width):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(width, width), _conv_bn(width, width))

    def forward(self, x):
        return x + self.body(x)


class KDResNet(nn.Module):
    """The cifar10-fast "ResNet-9" backbone: images -> pooled features.

    Parameters
    ----------
    in_channels : int, default=3
        Channels of the input images.
    widths : tuple of 4 int, default=(64, 128, 256, 512)
        Output channels of prep, layer1, layer2 and layer3 (the original's
        widths by default; narrower ones for small data or the CPU).

    Attributes
    ----------
    out_features : int
        Dimension of the pooled features (``widths[-1]``).
    """

    def __init__(self, in_channels=3, widths=(64, 128, 256, 512)):
        super().__init__()
        w0, w1, w2, w3 = (int(w) for w in widths)
        self.net = nn.Sequential(
            _conv_bn(in_channels, w0),
            _conv_bn(w0, w1), nn.MaxPool2d(2), _Residual(w1),
            _conv_bn(w1, w2), nn.MaxPool2d(2),
            _conv_bn(w2, w3), nn.MaxPool2d(2), _Residual(w3),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        )
        self.out_features = w3

    def forward(self, x):
        return self.net(x)


class KDResNetDecoder(nn.Module):
    """A decoder mirroring :class:`KDResNet`, for autoencoder pretraining.

    Mai et al. mirror the small ResNet for their autoencoders without giving
    the decoder; this one follows the spec's recommendation: a linear map of
    the code to ``w3 x ceil(H/8) x ceil(W/8)``, three stages of 2x
    nearest-neighbour upsampling + conv_bn (``w3 -> w2 -> w1 -> w0``), a
    final 3x3 convolution to the input channels, cropped to ``H x W``.

    Parameters
    ----------
    output_shape : tuple of 3 int
        ``(channels, H, W)`` of one reconstructed image.
    code_dim : int, default=128
        Dimension of the bottleneck code.
    widths : tuple of 4 int, default=(64, 128, 256, 512)
        The encoder's widths (traversed in reverse).
    output_activation : {"sigmoid", "identity"}, default="sigmoid"
        Sigmoid for images in [0, 1], identity otherwise.
    """

    def __init__(self, output_shape, code_dim=128, widths=(64, 128, 256, 512),
                 output_activation="sigmoid"):
        super().__init__()
        channels, height, width = (int(v) for v in output_shape)
        w0, w1, w2, w3 = (int(w) for w in widths)
        self.seed_shape = (w3, math.ceil(height / 8), math.ceil(width / 8))
        self.output_shape = (channels, height, width)
        self.project = nn.Linear(code_dim, math.prod(self.seed_shape))
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.Upsample(scale_factor=2), _conv_bn(w3, w2),
            nn.Upsample(scale_factor=2), _conv_bn(w2, w1),
            nn.Upsample(scale_factor=2), _conv_bn(w1, w0),
            nn.Conv2d(w0, channels, 3, padding=1),
        )
        self.out = nn.Sigmoid() if output_activation == "sigmoid" else nn.Identity()

    def forward(self, z):
        x = self.net(self.project(z).reshape(len(z), *self.seed_shape))
        _, height, width = self.output_shape
        top, left = (x.shape[-2] - height) // 2, (x.shape[-1] - width) // 2
        return self.out(x[..., top:top + height, left:left + width])
