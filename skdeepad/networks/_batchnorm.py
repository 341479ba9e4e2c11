"""BatchNorm running statistics: pause them, or re-estimate them exactly.

Three methods need this: DROCC's adversarial search runs forward passes
that must not leak into the statistics, and ADRA and the KD teacher
re-estimate the statistics of a network whose weights are final.
"""

import contextlib

import torch
from torch import nn


def batch_norm_layers(module):
    """The BatchNorm layers of ``module`` that keep running statistics."""
    return [m for m in module.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@contextlib.contextmanager
def batch_norm_momentum(module, momentum, reset=False):
    """Run the BatchNorm layers of ``module`` at another ``momentum``.

    ``momentum=0.0`` keeps the running statistics unchanged while the layers
    still normalise with batch statistics in training mode; ``None`` makes
    them cumulative averages.  ``reset=True`` clears the statistics first.
    The layers' own momenta are restored on exit.
    """
    norms = batch_norm_layers(module)
    saved = [m.momentum for m in norms]
    for m in norms:
        if reset:
            m.reset_running_stats()
        m.momentum = momentum
    try:
        yield
    finally:
        for m, value in zip(norms, saved):
            m.momentum = value


def recalibrate_batch_norm(module, batches):
    """Set the BatchNorm statistics of ``module`` to the exact averages over ``batches``.

    One pass of training-mode forward passes without gradient; no weight
    changes.  The moving average that training leaves behind lags the final
    weights; this replaces it with statistics of those weights.  ``module``
    is left in evaluation mode.
    """
    with batch_norm_momentum(module, None, reset=True), torch.no_grad():
        module.train()
        for x in batches:
            module(x)
    module.eval()
