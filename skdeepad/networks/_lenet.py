"""LeNet-type convolutional encoders and decoders (Deep SAD paper, Appendix D).

All convolutions are 5x5 with padding 2 and no bias; BatchNorm has no affine
parameters (eps 1e-4); each module is conv -> BN -> leaky ReLU -> 2x2
max-pooling.  Decoders replace pooling with nearest-neighbour upsampling and
convolutions with transposed convolutions, as the paper describes.
"""

import torch.nn.functional as F
from torch import nn

__all__ = ["LeNetMNIST", "LeNetMNISTDecoder", "LeNetCIFAR", "LeNetCIFARDecoder"]


def _conv_block(c_in, c_out, negative_slope):
    return [
        nn.Conv2d(c_in, c_out, 5, padding=2, bias=False),
        nn.BatchNorm2d(c_out, eps=1e-4, affine=False),
        nn.LeakyReLU(negative_slope),
        nn.MaxPool2d(2),
    ]


def _deconv_block(c_in, c_out, negative_slope, padding=2):
    return [
        nn.ConvTranspose2d(c_in, c_out, 5, padding=padding, bias=False),
        nn.BatchNorm2d(c_out, eps=1e-4, affine=False),
        nn.LeakyReLU(negative_slope),
        nn.Upsample(scale_factor=2),
    ]


class LeNetMNIST(nn.Module):
    """1x28x28 -> 8 filters -> 4 filters -> dense 32 (the paper's MNIST net)."""

    input_shape = (1, 28, 28)

    def __init__(self, rep_dim=32, negative_slope=0.1):
        super().__init__()
        self.net = nn.Sequential(
            *_conv_block(1, 8, negative_slope),
            *_conv_block(8, 4, negative_slope),
            nn.Flatten(),
            nn.Linear(4 * 7 * 7, rep_dim, bias=False),
        )
        self.rep_dim = rep_dim

    def forward(self, x):
        return self.net(x)


class LeNetMNISTDecoder(nn.Module):
    """Code (viewed as ``rep_dim/16 x 4 x 4``) -> 1x28x28 reconstruction."""

    def __init__(self, rep_dim=32, negative_slope=0.1, output_activation="sigmoid"):
        super().__init__()
        c0 = rep_dim // 16
        self.rep_dim, self.negative_slope = rep_dim, negative_slope
        self.net = nn.Sequential(
            nn.Upsample(scale_factor=2),                      # 4 -> 8
            *_deconv_block(c0, 4, negative_slope),            # 8 -> 16
            *_deconv_block(4, 8, negative_slope, padding=3),  # 16 -> 14 -> 28
            nn.ConvTranspose2d(8, 1, 5, padding=2, bias=False),
        )
        self.out = nn.Sigmoid() if output_activation == "sigmoid" else nn.Identity()

    def forward(self, z):
        h = F.leaky_relu(z.reshape(len(z), -1, 4, 4), self.negative_slope)
        return self.out(self.net(h))


class LeNetCIFAR(nn.Module):
    """3x32x32 -> 32 -> 64 -> 128 filters -> dense 128 (the paper's CIFAR-10 net)."""

    input_shape = (3, 32, 32)

    def __init__(self, rep_dim=128, negative_slope=0.1):
        super().__init__()
        self.net = nn.Sequential(
            *_conv_block(3, 32, negative_slope),
            *_conv_block(32, 64, negative_slope),
            *_conv_block(64, 128, negative_slope),
            nn.Flatten(),
            nn.Linear(128 * 4 * 4, rep_dim, bias=False),
        )
        self.rep_dim = rep_dim

    def forward(self, x):
        return self.net(x)


class LeNetCIFARDecoder(nn.Module):
    """Code (viewed as ``rep_dim/16 x 4 x 4``) -> 3x32x32 reconstruction."""

    def __init__(self, rep_dim=128, negative_slope=0.1, output_activation="sigmoid"):
        super().__init__()
        c0 = rep_dim // 16
        self.negative_slope = negative_slope
        self.net = nn.Sequential(
            nn.ConvTranspose2d(c0, 128, 5, padding=2, bias=False),
            nn.BatchNorm2d(128, eps=1e-4, affine=False),
            nn.LeakyReLU(negative_slope),
            nn.Upsample(scale_factor=2),                      # 4 -> 8
            *_deconv_block(128, 64, negative_slope),          # 8 -> 16
            *_deconv_block(64, 32, negative_slope),           # 16 -> 32
            nn.ConvTranspose2d(32, 3, 5, padding=2, bias=False),
        )
        # The authors' code initialises these four transposed convolutions
        # (and nothing else in any of its networks) Glorot-uniform with the
        # leaky ReLU's gain (Deep-SAD-PyTorch, cifar10_LeNet.py).
        gain = nn.init.calculate_gain("leaky_relu")
        for layer in self.net:
            if isinstance(layer, nn.ConvTranspose2d):
                nn.init.xavier_uniform_(layer.weight, gain=gain)
        self.out = nn.Sigmoid() if output_activation == "sigmoid" else nn.Identity()

    def forward(self, z):
        h = F.leaky_relu(z.reshape(len(z), -1, 4, 4), self.negative_slope)
        return self.out(self.net(h))
