"""Classifier networks of the DROCC paper (Goyal et al., 2020, Appendix E).

DROCC trains a binary classifier ``f`` that outputs one logit per sample
(higher = more normal).  The appendix fixes one base network per domain:

* tabular data (E.1): one fully connected hidden layer of 128 units;
* images (E.2): the LeNet-type encoder of Deep SVDD with a fully connected
  layer on top of its representation;
* time series (E.4): a single-layer LSTM with a fully connected layer on the
  hidden state of the last time step.

Unlike the Deep SVDD networks, these have biases: DROCC is a classifier
trained against generated negatives, so it cannot collapse to a constant.
"""

import math

from torch import nn

from ._lenet import LeNetCIFAR, LeNetMNIST

__all__ = ["DROCCLSTM", "DROCCMLP", "DROCCLeNet", "make_drocc_network"]


class DROCCMLP(nn.Module):
    """``x -> [Linear -> ReLU] * k -> Linear(., 1)``: one logit per sample.

    With ``hidden_layer_sizes=(128,)`` this is the tabular network of the
    DROCC paper (Appendix E.1) and of its reference code.  Inputs of any
    shape ``(n, *input_shape)`` are flattened.

    Parameters
    ----------
    in_features : int
        Number of input features (after flattening).
    hidden_layer_sizes : sequence of int, default=(128,)
        Units per hidden layer.
    """

    def __init__(self, in_features, hidden_layer_sizes=(128,)):
        super().__init__()
        sizes = [in_features, *hidden_layer_sizes]
        layers = [nn.Flatten()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).squeeze(1)


class DROCCLeNet(nn.Module):
    """A LeNet-type encoder plus a fully connected layer to one logit.

    Appendix E.2: "the same base architecture" as Deep SVDD (the LeNet-type
    CNNs of :mod:`skdeepad.networks`), with "a final fully connected layer
    over the learned representations".  A leaky ReLU (slope 0.1, the
    encoder's) sits between the representation and that layer, so the added
    layer is not a second linear map composed with the first.

    Parameters
    ----------
    input_shape : {(1, 28, 28), (3, 32, 32)}
        Shape of one image: the MNIST or the CIFAR-10 network.
    """

    def __init__(self, input_shape):
        super().__init__()
        encoders = {(1, 28, 28): LeNetMNIST, (3, 32, 32): LeNetCIFAR}
        input_shape = tuple(input_shape)
        if input_shape not in encoders:
            raise ValueError(
                f"DROCCLeNet exists for images of shape (1, 28, 28) and (3, 32, 32); "
                f"got {input_shape}. Pass your own network for other shapes."
            )
        self.encoder = encoders[input_shape]()
        self.head = nn.Sequential(nn.LeakyReLU(0.1), nn.Linear(self.encoder.rep_dim, 1))

    def forward(self, x):
        return self.head(self.encoder(x)).squeeze(1)


class DROCCLSTM(nn.Module):
    """Single-layer LSTM with a linear layer on the last hidden state (App. E.4).

    Parameters
    ----------
    n_features : int
        Features per time step (``d``); input batches are ``(n, T, d)``.
    hidden_size : int, default=128
        LSTM units (the reference code's 128).
    """

    def __init__(self, n_features, hidden_size=128):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        outputs, _ = self.lstm(x)
        return self.head(outputs[:, -1]).squeeze(1)


def make_drocc_network(input_shape, hidden_layer_sizes="auto"):
    """The paper's classifier for samples of shape ``input_shape``.

    ``(d,)`` -> :class:`DROCCMLP` (128 hidden units unless
    ``hidden_layer_sizes`` is given); ``(T, d)`` -> :class:`DROCCLSTM`
    (hidden size ``hidden_layer_sizes[0]`` if given, else 128);
    ``(1, 28, 28)`` and ``(3, 32, 32)`` -> :class:`DROCCLeNet`; any other
    shape -> :class:`DROCCMLP` on the flattened input.

    Returns
    -------
    network : torch.nn.Module
    hidden_layer_sizes : tuple of int or None
        The MLP/LSTM sizes used (``None`` for a CNN).
    """
    input_shape = tuple(int(v) for v in input_shape)
    auto = isinstance(hidden_layer_sizes, str)
    sizes = (128,) if auto else tuple(int(h) for h in hidden_layer_sizes)
    if len(input_shape) == 2:
        return DROCCLSTM(input_shape[1], sizes[0]), sizes[:1]
    if len(input_shape) == 3 and auto and input_shape in ((1, 28, 28), (3, 32, 32)):
        return DROCCLeNet(input_shape), None
    return DROCCMLP(math.prod(input_shape), sizes), sizes
