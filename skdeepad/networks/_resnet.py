"""ResNet26 of the residual-adapter papers (Rebuffi et al., 2017, 2018).

The layout is the one used by ADRA's pretrained backbone (Deecke et al.,
2020) and the Visual Decathlon: a 3x3 stem convolution, three stages of four
basic blocks (the second and third stage halve the resolution in their first
block), and a final BatchNorm -> ReLU -> global average pool.  With the task's
linear layer on top this is 1 + 24 + 1 = 26 layers.  The shortcut of a
downsampling block has no parameters: 2x2 average pooling, then zero channels
appended to double the width.

``forward`` returns the pooled features; the classifier or anomaly head is
added by whoever uses the body
(:func:`~skdeepad.pretraining.pretrain_classifier`, :class:`~skdeepad.ADRA`).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ResNet26", "he_init"]


def he_init(module):
    """He-normal convolutions, unit/zero BatchNorm, default linear layers.

    Convolution weights are drawn from ``N(0, 2 / (k_h k_w C_out))``, the
    initialisation of the residual-adapter code.  BatchNorm running
    statistics are reset too, so the function turns any CNN back into an
    untrained one (``ADRA(mode="scratch")``).
    """
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            fan_out = layer.kernel_size[0] * layer.kernel_size[1] * layer.out_channels
            nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / fan_out))
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.reset_parameters()
        elif isinstance(layer, nn.Linear):
            layer.reset_parameters()
    return module


def _conv3x3(c_in, c_out, stride=1):
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


class _ZeroPadShortcut(nn.Module):
    """Parameter-free downsampling shortcut: 2x2 average pool, then zero channels."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.extra = c_out - c_in

    def forward(self, x):
        # ceil_mode keeps the size equal to the stride-2 convolution's on odd inputs
        x = F.avg_pool2d(x, 2, ceil_mode=True)
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    """``conv3x3(s) -> BN -> ReLU -> conv3x3 -> BN``, plus the shortcut, then ReLU."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = _conv3x3(c_out, c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        downsample = stride != 1 or c_in != c_out
        self.shortcut = _ZeroPadShortcut(c_in, c_out) if downsample else nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet26(nn.Module):
    """ResNet26 body of the residual-adapter papers; returns pooled features.

    Parameters
    ----------
    in_channels : int, default=3
        Channels of the input images (1 for grayscale, 3 for colour).
    widths : tuple of 3 int, default=(64, 128, 256)
        Channels of the three stages (the stem has ``widths[0]``).  The
        papers use (64, 128, 256): 5.8 million parameters here (the ADRA
        paper quotes about 6.2 million per network).  Narrower widths, e.g.
        (8, 16, 32), keep the depth for small experiments.

    Attributes
    ----------
    out_features : int
        Size of the feature vector ``forward`` returns (``widths[-1]``).

    Notes
    -----
    The stride-1 stem keeps 32x32 (CIFAR) or 28x28 (MNIST) inputs at full
    resolution in the first stage, as in the ADRA code, which applies
    ImageNet-72 weights to 32x32 images without resizing.

    References
    ----------
    .. [1] Rebuffi, S.-A., Bilen, H., Vedaldi, A. "Learning multiple visual
       domains with residual adapters." NeurIPS 2017.
    .. [2] Deecke, L., Ruff, L., Vandermeulen, R. A., Bilen, H. "Deep Anomaly
       Detection by Residual Adaptation." arXiv:2010.02310, 2020.

    Examples
    --------
    >>> import torch
    >>> from skdeepad.networks import ResNet26
    >>> net = ResNet26(in_channels=1, widths=(4, 8, 16))
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 16])
    """

    n_blocks = 4

    def __init__(self, in_channels=3, widths=(64, 128, 256)):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) != 3 or min(widths) < 1 or in_channels < 1:
            raise ValueError(
                f"ResNet26 needs in_channels >= 1 and three positive stage widths; got "
                f"in_channels={in_channels!r}, widths={widths!r}."
            )
        if any(b < a for a, b in zip(widths, widths[1:])):
            raise ValueError(
                f"widths={widths!r}: the zero-padding shortcut needs non-decreasing widths."
            )
        self.in_channels, self.widths = int(in_channels), widths
        self.out_features = widths[-1]
        self.conv1 = _conv3x3(in_channels, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        c_in = widths[0]
        for i, width in enumerate(widths):
            blocks = []
            for j in range(self.n_blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(BasicBlock(c_in, width, stride))
                c_in = width
            setattr(self, f"stage{i + 1}", nn.Sequential(*blocks))
        self.bn_out = nn.BatchNorm2d(widths[-1])
        he_init(self)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        x = F.relu(self.bn_out(x))
        return x.mean(dim=(2, 3))

    @classmethod
    def from_state_dict(cls, state_dict):
        """A ResNet26 with the shapes and weights of ``state_dict``.

        ``in_channels`` and ``widths`` are read from the weight shapes, so a
        state dict saved from any ResNet26 (e.g. after
        :func:`~skdeepad.pretraining.pretrain_classifier`) rebuilds the same network.
        """
        try:
            in_channels = state_dict["conv1.weight"].shape[1]
            widths = tuple(state_dict[f"stage{i}.0.conv1.weight"].shape[0] for i in (1, 2, 3))
        except (KeyError, AttributeError, IndexError) as exc:
            raise ValueError(
                "The saved weights are not a ResNet26 state dict (missing "
                f"{exc}); save one with torch.save(resnet26.state_dict(), path)."
            ) from exc
        with torch.random.fork_rng(devices=[]):  # the init is overwritten: leave the RNG alone
            net = cls(in_channels=in_channels, widths=widths)
        net.load_state_dict(state_dict)
        return net

