"""Supervised pretraining of a backbone on labeled auxiliary data.

ADRA's premise is a network pretrained on a large labeled task (ImageNet in
the paper).  :func:`pretrain_classifier` provides the offline stand-in: it
trains a network with a temporary linear classifier on any labeled images and
returns the network without that classifier.

It trains with the package's training loop, so it lives here rather than in
:mod:`skdeepad.networks`, which holds only the :mod:`torch` modules and
imports nothing from the estimators or their training loop.
"""

import copy

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from ._train import gradient_step, make_optimizer, train_loop
from .base import _seeded, resolve_device

__all__ = ["pretrain_classifier"]


class _WithHead(torch.nn.Module):
    def __init__(self, body, head):
        super().__init__()
        self.body, self.head = body, head

    def forward(self, x):
        return self.head(self.body(x).flatten(1))


def pretrain_classifier(network, X, y, *, epochs=30, batch_size=128, lr=0.1, momentum=0.9,
                        weight_decay=5e-4, lr_milestones=None, device="auto",
                        random_state=None, verbose=0):
    """Train ``network`` as a classifier of ``y`` and return it without the head.

    A linear layer from the network's (flattened) output to the classes is
    added, the pair is trained with cross-entropy by SGD with momentum, and
    the head is thrown away.  The network's BatchNorm statistics are those of
    ``X``.

    Parameters
    ----------
    network : torch.nn.Module
        The body to pretrain, e.g. :class:`~skdeepad.networks.ResNet26`.  It
        is not modified: a trained copy is returned.
    X : array-like of shape (n_samples, channels, height, width)
        Labeled auxiliary images (any float range; the same scaling should
        be used later for the anomaly detection data).
    y : array-like of shape (n_samples,)
        Class labels (any hashable values, at least two classes).
    epochs : int, default=30
        Passes over ``X``.
    batch_size : int, default=128
        Mini-batch size.
    lr : float, default=0.1
        Initial learning rate.
    momentum : float, default=0.9
        SGD momentum.
    weight_decay : float, default=5e-4
        L2 penalty of the optimizer.
    lr_milestones : sequence of int, default=None
        Epochs after which the learning rate is divided by 10; ``None`` uses
        50 % and 75 % of ``epochs``.
    device : "auto", "cpu", "cuda" or torch.device, default="auto"
        Where to train.
    random_state : int, RandomState instance or None, default=None
        Seed of the head's initialisation and the batch order.
    verbose : int, default=0
        Show a progress bar when > 0.

    Returns
    -------
    network : torch.nn.Module
        The trained copy of ``network``, on the CPU, in evaluation mode, with
        ``pretrain_history_`` (per-epoch loss) and ``pretrain_accuracy_``
        (training accuracy) attached.

    See Also
    --------
    skdeepad.ADRA : Adapts such a pretrained backbone to anomaly detection.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad.networks import ResNet26
    >>> from skdeepad.pretraining import pretrain_classifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.rand(40, 1, 8, 8).astype(np.float32); y = np.arange(40) % 2
    >>> net = pretrain_classifier(ResNet26(1, (4, 4, 8)), X, y, epochs=1, random_state=0)
    >>> net(torch.as_tensor(X[:3])).shape
    torch.Size([3, 8])
    """
    if not isinstance(network, torch.nn.Module):
        raise TypeError(f"network must be a torch.nn.Module; got {type(network).__name__}.")
    X = check_array(np.asarray(X), allow_nd=True, dtype=np.float32, ensure_min_samples=2)
    if X.ndim != 4:
        raise ValueError(
            f"X must hold images of shape (n_samples, channels, height, width); got {X.shape}."
        )
    classes, y_idx = np.unique(np.asarray(y), return_inverse=True)
    if len(y_idx) != len(X):
        raise ValueError(f"X has {len(X)} samples but y has {len(y_idx)} labels.")
    if len(classes) < 2:
        raise ValueError("pretrain_classifier needs at least two classes in y.")
    device_ = resolve_device(device)
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    body = copy.deepcopy(network).to(device_)
    with _seeded(seed, device_):
        X_t = torch.as_tensor(X, device=device_)
        y_t = torch.as_tensor(y_idx, dtype=torch.long, device=device_)
        body.eval()
        with torch.no_grad():
            n_features = body(X_t[:2]).flatten(1).shape[1]
        model = _WithHead(body, torch.nn.Linear(n_features, len(classes))).to(device_)
        optimizer = make_optimizer("sgd", model.parameters(), lr=lr,
                                   weight_decay=weight_decay, momentum=momentum)
        milestones = (list(lr_milestones) if lr_milestones is not None
                      else [max(1, epochs // 2), max(1, (3 * epochs) // 4)])
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
        criterion = torch.nn.CrossEntropyLoss()
        history = train_loop(
            gradient_step(lambda x, t: criterion(model(x), t), optimizer),
            (X_t, y_t), modules=[model], epochs=epochs, batch_size=batch_size,
            schedulers=[scheduler], verbose=verbose, desc="pretrain_classifier",
        )
        model.eval()
        with torch.inference_mode():
            correct = sum(int((model(X_t[a:a + 1024]).argmax(1) == y_t[a:a + 1024]).sum())
                          for a in range(0, len(X_t), 1024))
    body = body.cpu().eval()
    body.pretrain_history_ = history
    body.pretrain_accuracy_ = correct / len(X_t)
    return body
