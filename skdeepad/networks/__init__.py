"""Torch modules used by the detectors, and the rules that pick a default one.

Only :mod:`torch` modules live here; estimators build them at fit time.  This
package imports nothing from the estimators or their training loop
(``tests/test_layering.py`` checks it); training a backbone is done by
:func:`skdeepad.pretraining.pretrain_classifier`.
"""

import math

from ._adapters import ResidualAdapter, add_residual_adapters, sparsemax
from ._ama_nets import (
    AMAConvCritic,
    AMAConvEncoder,
    AMAConvGenerator,
    AMAMLPCritic,
    AMAMLPEncoder,
    AMAMLPGenerator,
    make_ama_networks,
)
from ._autoencoder import EncoderDecoder, reconstruction_error
from ._drocc_nets import DROCCLSTM, DROCCMLP, DROCCLeNet, make_drocc_network
from ._kd_resnet import KDResNet, KDResNetDecoder
from ._lenet import LeNetCIFAR, LeNetCIFARDecoder, LeNetMNIST, LeNetMNISTDecoder
from ._mlp import MLP, MLPDecoder, glorot_init
from ._resnet import ResNet26, he_init

__all__ = [
    "ResNet26",
    "ResidualAdapter",
    "add_residual_adapters",
    "he_init",
    "sparsemax",
    "AMAConvCritic",
    "AMAConvEncoder",
    "AMAConvGenerator",
    "AMAMLPCritic",
    "AMAMLPEncoder",
    "AMAMLPGenerator",
    "make_ama_networks",
    "EncoderDecoder",
    "reconstruction_error",
    "MLP",
    "MLPDecoder",
    "LeNetMNIST",
    "LeNetMNISTDecoder",
    "LeNetCIFAR",
    "LeNetCIFARDecoder",
    "default_hidden_layer_sizes",
    "make_default_autoencoder",
    "DROCCMLP",
    "DROCCLeNet",
    "DROCCLSTM",
    "make_drocc_network",
    "KDResNet",
    "KDResNetDecoder",
]

_LENETS = {
    (1, 28, 28): (LeNetMNIST, LeNetMNISTDecoder),
    (3, 32, 32): (LeNetCIFAR, LeNetCIFARDecoder),
}


def default_hidden_layer_sizes(n_features):
    """The paper's MLP sizes (Appendix D), chosen from the number of features.

    arrhythmia (274 features) uses 128-64-32; cardio, satellite, satimage-2
    and shuttle (9-36 features) 32-16-8; thyroid (6 features) 32-16-4.  The
    rule generalises those choices: more than 100 features -> (128, 64, 32);
    fewer than 8 -> (32, 16, 4); otherwise (32, 16, 8).
    """
    if n_features > 100:
        return (128, 64, 32)
    if n_features < 8:
        return (32, 16, 4)
    return (32, 16, 8)


def make_default_autoencoder(input_shape, hidden_layer_sizes="auto",
                             output_activation="sigmoid", negative_slope=0.1, init="default"):
    """Build the paper's encoder and its mirrored decoder for ``input_shape``.

    Images of shape 1x28x28 and 3x32x32 get the LeNet-type CNNs of the Deep
    SAD paper (unless ``hidden_layer_sizes`` is given explicitly); anything
    else gets a bias-free MLP on the flattened input.

    ``init="default"`` keeps PyTorch's default initialisation (uniform with
    bound ``1 / sqrt(fan_in)``), as the authors' code does for every network
    except the CIFAR-10 decoder's transposed convolutions (Glorot-uniform with
    the leaky ReLU's gain, set by :class:`LeNetCIFARDecoder` itself).
    ``init="glorot"`` re-draws every weight Glorot-uniform, as the paper's
    Appendix E states; those weights are about twice as large, and with them
    Deep SAD lost 6 AUC points on ODDS cardio and satellite (see the
    package's "Defaults and their sources" page).

    Returns
    -------
    encoder, decoder : torch.nn.Module
    hidden_layer_sizes : tuple of int or None
        The MLP sizes used (``None`` for a CNN).
    """
    input_shape = tuple(input_shape)
    auto = isinstance(hidden_layer_sizes, str)  # "auto", validated by the estimator
    if input_shape in _LENETS and auto:
        enc_cls, dec_cls = _LENETS[input_shape]
        encoder = enc_cls(negative_slope=negative_slope)
        decoder = dec_cls(encoder.rep_dim, negative_slope, output_activation)
        sizes = None
    else:
        n_features = math.prod(input_shape)
        if auto:
            sizes = default_hidden_layer_sizes(n_features)
        else:
            sizes = tuple(int(h) for h in hidden_layer_sizes)
        encoder = MLP(n_features, sizes, negative_slope)
        decoder = MLPDecoder(input_shape, sizes, negative_slope, output_activation)
    if init == "glorot":
        glorot_init(encoder)
        glorot_init(decoder)
    return encoder, decoder, sizes
