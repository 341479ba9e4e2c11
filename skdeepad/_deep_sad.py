"""Deep SVDD (one-class and soft-boundary) and Deep SAD.

The module follows Algorithm 1 of Ruff et al. (2020): optionally pretrain an
autoencoder whose encoder has the architecture of the network phi, take its
encoder as phi, fix the centre c as the mean initial representation of the
normal/unlabeled data, then minimise objective (8) by mini-batch SGD.  The
anomaly score is the squared distance ||phi(x) - c||^2 (Eq. 4), so
``score_samples`` returns its negative.
"""

import numbers
import warnings

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ._autoencoder import autoencoder_loss, build_autoencoder
from .base import BaseDeepDetector, caller_stacklevel

__all__ = ["DeepSAD", "DeepSVDD", "deep_sad_loss", "one_class_loss", "soft_boundary_loss"]

#: Epochs of soft-boundary training before the radius is first updated
#: (the authors' code; the paper leaves it unspecified).
SOFT_BOUNDARY_WARM_UP_EPOCHS = 10


def squared_distance(z, c):
    """``||z_i - c||^2`` for every row of ``z`` (the last axis is the representation)."""
    return ((z - c) ** 2).sum(dim=-1)


def deep_sad_loss(dist, semi_targets, eta=1.0, eps=1e-6):
    """Deep SAD objective (8) without weight decay, averaged over the batch.

    Unlabeled samples (``semi_targets == 0``) contribute their squared
    distance ``d``; labeled ones ``eta * (d + eps) ** y``: ``eta * d`` for
    known normals (+1) and ``eta / (d + eps)`` for known anomalies (-1).  The
    mean over the whole batch (the last axis) is the paper's ``1 / (n + m)``
    normalisation; a ``(K, B)`` stack of batches gives one value per member.
    """
    labeled = eta * (dist + eps) ** semi_targets
    return torch.where(semi_targets == 0, dist, labeled).mean(dim=-1)


def one_class_loss(dist):
    """One-Class Deep SVDD objective: the mean squared distance to ``c`` (last axis)."""
    return dist.mean(dim=-1)


def soft_boundary_loss(dist, radius, nu):
    """Soft-boundary Deep SVDD: ``R^2 + 1/nu * mean(max(0, d - R^2))`` (mean over the last axis).

    For a ``(K, B)`` stack of batches, ``radius`` and ``nu`` are ``(K, 1)``.
    """
    r2 = radius**2
    return (r2 + torch.relu(dist - r2).mean(dim=-1, keepdim=True) / nu).squeeze(-1)


def init_center(encoder_outputs, eps=0.1):
    """Mean representation, with coordinates closer than ``eps`` to 0 pushed to +-eps.

    A coordinate of c near zero can be matched by a network whose weights
    shrink to zero, a trivial solution; pushing it away prevents that
    (Ruff et al., 2018).  Exact zeros go to +eps.
    """
    c = encoder_outputs.mean(dim=0)
    small = c.abs() < eps
    return torch.where(small, torch.where(c < 0, -eps, eps), c)


class _BaseDeepSVDD(BaseDeepDetector):
    """The shared machinery of Deep SVDD and Deep SAD: network, centre, loop."""

    _parameter_constraints = {
        **BaseDeepDetector._parameter_constraints,
        "pretrain": ["boolean"],
        "pretrain_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
    }

    #: Parameters every member of one stack shares (they fix the loop).
    _stack_structure = ("pretrain", "pretrain_epochs")

    @classmethod
    def _fit_stack(cls, stack):
        """Algorithm 1 for a stack of members (a lone fit is a stack of one).

        Pretrain an autoencoder and take its encoder as phi (Appendix C), fix
        each member's centre c on its normal rows, then minimise the
        method's objective (:meth:`_objective`).
        """
        first = stack.first
        rows = stack.rows(cls._training_rows)
        phis = stack.build(lambda est, X, *_: est._initial_network(X), rows)
        if first.network is None and first.pretrain:
            autoencoders = [est._autoencoder for est in stack.members]
            histories = stack.train(autoencoders, autoencoder_loss, rows,
                                    epochs=first.pretrain_epochs,
                                    desc=stack.label(f"{cls.__name__} pretraining"))
            for est, history in zip(stack.members, histories):
                est.pretrain_history_ = history
        centers = []
        for est, phi, member_rows in zip(stack.members, phis, rows.members):
            del est._autoencoder
            est.network_ = phi
            c = init_center(est._map_batches(phi, est._center_rows(*member_rows)).clone())
            est.center_ = c.double().cpu().numpy()
            centers.append(c)
        loss, after_step = cls._objective(stack, torch.stack(centers)[:, None])
        weights = [est._sample_weights(r) for est, r in zip(stack.members, rows.members)]
        histories = stack.train(phis, loss, rows, epochs=first.epochs,
                                desc=stack.label(cls.__name__), weights=weights,
                                after_step=after_step)
        for est, history, (X, *_) in zip(stack.members, histories, rows.members):
            est.history_ = history
            dist = -est._score_tensor(X)
            est._warn_if_collapsed(dist)
            est._set_radius(dist)

    def _initial_network(self, X):
        """phi before training: a fresh (or pretrained, later) encoder, or the user's network.

        The default autoencoder is built here and kept as ``_autoencoder``
        for pretraining; its encoder module itself becomes phi, so the
        pretrained weights and BatchNorm statistics carry over exactly
        (unlike the reference code, whose state-dict copy matched no key and
        left phi at random weights).
        """
        self._autoencoder = None
        if self.network is not None:
            if self.pretrain:
                raise ValueError(
                    "pretrain=True needs a decoder, which can only be built for the "
                    "default networks; with a custom `network`, set pretrain=False "
                    "(or pretrain it yourself before passing it)."
                )
            network = self._user_network()
            if any(n.endswith("bias") for n, p in network.named_parameters() if p.requires_grad):
                warnings.warn(
                    "The network has bias parameters; a bias lets phi map every input "
                    "to c (hypersphere collapse, Ruff et al. 2018). Use bias-free layers.",
                    UserWarning,
                    stacklevel=caller_stacklevel(),
                )
            self.hidden_layer_sizes_ = None
            return network
        self._autoencoder, self.hidden_layer_sizes_ = build_autoencoder(self, X)
        return self._autoencoder.encoder

    def _center_rows(self, X, *_):
        """The training rows c is the mean representation of."""
        return X

    def _set_radius(self, dist):
        """Hook run with the final squared distances of the training rows."""

    def _sample_weights(self, data):
        """Per-row draw weights for the main training, or None to shuffle."""
        return None

    def _warn_if_collapsed(self, dist):
        if float(dist.max()) <= 1e-6 * float(np.sum(self.center_**2)):
            warnings.warn(
                "All training samples are mapped onto the centre c (hypersphere "
                "collapse): the scores carry no information. Use bias-free networks, "
                "AE pretraining, fewer epochs or a smaller learning rate.",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )

    def _distance(self, X):
        return squared_distance(self.network_(X), torch.as_tensor(
            self.center_, dtype=X.dtype, device=X.device))

    def _score_batch(self, X):
        """Minus the squared distance to the centre (higher = more normal)."""
        return -self._distance(X)


class DeepSVDD(_BaseDeepSVDD):
    """Deep Support Vector Data Description: a hypersphere in a learned space.

    A bias-free network phi is trained to map the training data close to a
    fixed centre c (One-Class Deep SVDD) or inside a sphere of radius R that
    encloses a ``1 - nu`` fraction of them (soft-boundary Deep SVDD).  The
    anomaly score is ``||phi(x) - c||^2``; ``score_samples`` is its negative.

    Read more in the :ref:`User Guide <conventions>`.

    Parameters
    ----------
    objective : {"one-class", "soft-boundary"}, default="one-class"
        ``"one-class"`` minimises the mean squared distance to c;
        ``"soft-boundary"`` minimises ``R^2 + 1/nu * mean(max(0, d - R^2))``,
        with R set after every mini-batch to the ``(1 - nu)``-quantile of the
        batch's distances once 10 warm-up epochs have passed (the authors'
        code), and finally to the quantile over the whole training set.
    nu : float in (0, 1], default=0.1
        Soft-boundary trade-off: bound on the fraction of training data
        outside the sphere.  Ignored by ``"one-class"``.
    pretrain : bool, default=True
        Pretrain an autoencoder and start phi from its encoder (Appendix C).
    pretrain_epochs : int, default=150
        Autoencoder epochs (same learning-rate schedule as the main training).
    hidden_layer_sizes : "auto" or tuple of int, default="auto"
        MLP sizes for tabular data, the last being the representation
        dimension.  ``"auto"``: (128, 64, 32) above 100 features, (32, 16, 4)
        below 8, (32, 16, 8) otherwise (the paper's ODDS networks).
        1x28x28 and 3x32x32 images get the paper's LeNet-type CNNs.
    network : torch.nn.Module or callable, default=None
        A custom phi (or a callable building it from the input shape).  It
        should be bias-free with unbounded activations; requires
        ``pretrain=False``.
    init : {"default", "glorot"}, default="default"
        Initial weights of the default networks.  ``"default"``: PyTorch's
        own initialisation, which the authors' code used for every number in
        the paper (Deep-SAD-PyTorch; only its CIFAR-10 decoder differs, see
        :func:`~skdeepad.networks.make_default_autoencoder`).  ``"glorot"``:
        Glorot-uniform, as the paper's Appendix E states; its weights are
        about twice as large and cost Deep SAD 6 AUC points on ODDS cardio
        and satellite (10 seeds).
        Ignored for a custom ``network``.
    epochs : int, default=150
        Training epochs.
    batch_size : int, default=128
        Mini-batch size: the authors' code's 128 (the paper's text says 200;
        on ODDS cardio and satellite 128 gave Deep SAD 2.1 and 1.1 more AUC
        points).  A final batch smaller than half of it joins the one before.
    lr : float, default=1e-4
        Learning rate.
    lr_milestones : tuple of int, default=(50,)
        Epochs after which the learning rate is divided by 10.
    weight_decay : float, default=1e-6
        L2 penalty (the paper's lambda), applied by the optimizer.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or Optimizer class, default="adam"
        Optimizer.  Its own arguments are passed with the prefix
        ``optimizer__``, e.g. ``optimizer__momentum=0.9`` with ``"sgd"``
        (see :ref:`routing`).
    input_shape : tuple of int, default=None
        Shape of one sample when images are given flattened.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected fraction of outliers, which sets ``offset_``.  ``"auto"``:
        the sphere's boundary ``-R^2`` for soft-boundary, otherwise 10 % of
        the training data are flagged.
    device : "auto", "cpu", "cuda" or torch.device, default="auto"
        Where to train and score.
    random_state : int, RandomState instance or None, default=None
        Seed of weights and batch order.
    verbose : int, default=0
        0: silent; 1: a progress bar with the loss; 2: also one line per
        epoch with the losses, learning rate and duration.
    validation_fraction : float in (0, 1), default=None
        Fraction of the training data held out to monitor a validation loss.
    n_iter_no_change : int, default=None
        Early stopping patience on the validation loss (needs
        ``validation_fraction``); the best epoch's weights are kept.
    callbacks : list of Callback, default=None
        Hooks into every training loop of ``fit``
        (:class:`skdeepad.callbacks.Callback`, used as given); a fit with
        callbacks is not stacked.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained network phi.
    center_ : ndarray of shape (rep_dim,)
        The centre c.
    radius_ : float
        The radius R (soft-boundary only; 0 for one-class).
    hidden_layer_sizes_ : tuple of int or None
        MLP sizes used (None for a CNN or a custom network).
    history_, pretrain_history_ : list of dict
        Per-epoch losses, learning rate and duration of training / pretraining.
    offset_ : float
        Threshold: ``decision_function = score_samples - offset_``.
    device_ : torch.device
        The device used.
    input_shape_ : tuple of int
        Shape of one sample.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    DeepSAD : Uses labeled normals and anomalies as well.
    AutoEncoder : The reconstruction-error detector used for pretraining.
    sklearn.svm.OneClassSVM : The kernel counterpart.

    Notes
    -----
    Deep SVDD is unsupervised: samples labeled ``-1`` in ``y`` are dropped
    from training, ``+1`` and ``0`` are used alike.  A network whose outputs
    all coincide with c (hypersphere collapse) triggers a warning.

    References
    ----------
    .. [1] Ruff, L., et al. "Deep One-Class Classification." ICML 2018.
    .. [2] Ruff, L., et al. "Deep Semi-Supervised Anomaly Detection." ICLR 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import DeepSVDD
    >>> X = np.random.RandomState(0).rand(200, 5)
    >>> det = DeepSVDD(epochs=5, pretrain_epochs=5, random_state=0).fit(X)
    >>> det.predict([[0.5, 0.5, 0.5, 0.5, 0.5], [9, 9, 9, 9, 9]])
    array([ 1, -1])
    """

    _parameter_constraints = {
        **_BaseDeepSVDD._parameter_constraints,
        "objective": [StrOptions({"one-class", "soft-boundary"})],
        "nu": [Interval(numbers.Real, 0, 1, closed="right")],
    }

    def __init__(
        self,
        *,
        objective="one-class",
        nu=0.1,
        pretrain=True,
        pretrain_epochs=150,
        hidden_layer_sizes="auto",
        network=None,
        init="default",
        epochs=150,
        batch_size=128,
        lr=1e-4,
        lr_milestones=(50,),
        weight_decay=1e-6,
        optimizer="adam",
        input_shape=None,
        contamination="auto",
        device="auto",
        random_state=None,
        verbose=0,
        validation_fraction=None,
        n_iter_no_change=None,
        callbacks=None,
        **kwargs,
    ):
        self.objective = objective
        self.nu = nu
        self.pretrain = pretrain
        self.pretrain_epochs = pretrain_epochs
        self.hidden_layer_sizes = hidden_layer_sizes
        self.network = network
        self.init = init
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_milestones = lr_milestones
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.input_shape = input_shape
        self.contamination = contamination
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self._set_routed(kwargs)

    _stack_structure = _BaseDeepSVDD._stack_structure + ("objective",)

    @staticmethod
    def _training_rows(X, y):
        return (X[y != -1],)  # unsupervised: known anomalies are left out

    @classmethod
    def _objective(cls, stack, c):
        """The loss of a stack of members with centres ``c`` (``(K, 1, rep_dim)``).

        Soft-boundary: ``R`` is set after every optimizer step, once
        ``SOFT_BOUNDARY_WARM_UP_EPOCHS`` have passed, to each member's
        optimal value for its batch, the ``(1 - nu)``-quantile of the batch's
        pre-step distances (Appendix E; the authors' code).
        """
        if stack.first.objective == "one-class":
            return (lambda net, epoch, x: one_class_loss(squared_distance(net(x), c))), None
        radius = torch.zeros(stack.K, 1, device=stack.device)
        nu = stack.param(lambda est: est.nu)
        q = torch.tensor([1 - float(est.nu) for est in stack.members], device=stack.device)
        last = {}

        def loss(net, epoch, x):
            last["dist"] = dist = squared_distance(net(x), c)
            return soft_boundary_loss(dist, radius, nu)

        def after_step(epoch):
            if epoch >= SOFT_BOUNDARY_WARM_UP_EPOCHS:
                r = torch.quantile(last["dist"].detach().sqrt(), q, dim=1)  # (K_q, K)
                radius.copy_(r.diagonal()[:, None])

        return loss, after_step

    def _set_radius(self, dist):
        radius = 0.0
        if self.objective == "soft-boundary":
            radius = float(torch.quantile(dist.sqrt(), 1 - self.nu))
        self.radius_ = radius

    def _auto_offset(self, train_scores):
        if self.objective == "soft-boundary":
            return -self.radius_**2
        return super()._auto_offset(train_scores)


class DeepSAD(_BaseDeepSVDD):
    """Deep Semi-supervised Anomaly Detection (Ruff et al., ICLR 2020).

    Generalises One-Class Deep SVDD to partially labeled data by minimising
    objective (8):

    .. math::

        \\frac{1}{n+m}\\sum_{i=1}^{n}\\|\\phi(x_i)-c\\|^2
        + \\frac{\\eta}{n+m}\\sum_{j=1}^{m}\\left(\\|\\phi(\\tilde x_j)-c\\|^2
        + \\epsilon\\right)^{\\tilde y_j}

    with weight decay ``lambda`` in the optimizer and ``eps = 1e-6``: unlabeled
    and known normal samples are pulled towards c, known anomalies pushed away
    through the inverse squared distance.  The anomaly score is
    ``||phi(x) - c||^2``; ``score_samples`` is its negative.  With no labels
    at all, Deep SAD is exactly One-Class :class:`DeepSVDD`.

    Read more in the :ref:`User Guide <conventions>`.

    Parameters
    ----------
    eta : float > 0, default=1.0
        Weight of the labeled terms (the paper's eta; 1 in all its experiments).
    sampling : {"uniform", "balanced"}, default="uniform"
        How the main training draws its mini-batches.  ``"uniform"`` (the
        paper): every sample once per epoch, shuffled.  ``"balanced"``: each
        epoch draws ``n`` samples with replacement so that labeled anomalies
        make up half of them in expectation, as DeepOD's DeepSAD does; this
        strengthens the labeled term when labeled anomalies are rare (see the
        ODDS benchmark for its effect).  Pretraining always uses ``"uniform"``.
    pretrain : bool, default=True
        Pretrain an autoencoder on all training data and start phi from its
        encoder (Appendix C).
    pretrain_epochs : int, default=150
        Autoencoder epochs (same learning-rate schedule as the main training).
    hidden_layer_sizes : "auto" or tuple of int, default="auto"
        MLP sizes for tabular data, the last being the representation
        dimension.  ``"auto"``: (128, 64, 32) above 100 features, (32, 16, 4)
        below 8, (32, 16, 8) otherwise (the paper's ODDS networks, Appendix
        D).  1x28x28 and 3x32x32 images get the paper's LeNet-type CNNs.
    network : torch.nn.Module or callable, default=None
        A custom phi (or a callable building it from the input shape).  It
        should be bias-free with unbounded activations; requires
        ``pretrain=False``.
    init : {"default", "glorot"}, default="default"
        Initial weights of the default networks.  ``"default"``: PyTorch's
        own initialisation, which the authors' code used for every number in
        the paper (Deep-SAD-PyTorch; only its CIFAR-10 decoder differs, see
        :func:`~skdeepad.networks.make_default_autoencoder`).  ``"glorot"``:
        Glorot-uniform, as the paper's Appendix E states; its weights are
        about twice as large and cost Deep SAD 6 AUC points on ODDS cardio
        and satellite (10 seeds).
        Ignored for a custom ``network``.
    epochs : int, default=150
        Training epochs (Appendix E: 50 at 1e-4, then 100 at 1e-5).
    batch_size : int, default=128
        Mini-batch size: the authors' code's 128 (the paper's text says 200;
        on ODDS cardio and satellite 128 gave Deep SAD 2.1 and 1.1 more AUC
        points).  A final batch smaller than half of it joins the one before.
    lr : float, default=1e-4
        Learning rate.
    lr_milestones : tuple of int, default=(50,)
        Epochs after which the learning rate is divided by 10.
    weight_decay : float, default=1e-6
        L2 penalty (the paper's lambda), applied by the optimizer.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or Optimizer class, default="adam"
        Optimizer.  Its own arguments are passed with the prefix
        ``optimizer__``, e.g. ``optimizer__momentum=0.9`` with ``"sgd"``
        (see :ref:`routing`).
    input_shape : tuple of int, default=None
        Shape of one sample when images are given flattened.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected fraction of outliers, which sets ``offset_``; ``"auto"``
        flags 10 % of the training data.
    device : "auto", "cpu", "cuda" or torch.device, default="auto"
        Where to train and score.
    random_state : int, RandomState instance or None, default=None
        Seed of weights and batch order.
    verbose : int, default=0
        0: silent; 1: a progress bar with the loss; 2: also one line per
        epoch with the losses, learning rate and duration.
    validation_fraction : float in (0, 1), default=None
        Fraction of the training data held out to monitor a validation loss.
    n_iter_no_change : int, default=None
        Early stopping patience on the validation loss (needs
        ``validation_fraction``); the best epoch's weights are kept.
    callbacks : list of Callback, default=None
        Hooks into every training loop of ``fit``
        (:class:`skdeepad.callbacks.Callback`, used as given); a fit with
        callbacks is not stacked.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained network phi.
    center_ : ndarray of shape (rep_dim,)
        The centre c, the mean initial representation of the unlabeled and
        known-normal training data.
    hidden_layer_sizes_ : tuple of int or None
        MLP sizes used (None for a CNN or a custom network).
    history_, pretrain_history_ : list of dict
        Per-epoch losses, learning rate and duration of training / pretraining.
    offset_ : float
        Threshold: ``decision_function = score_samples - offset_``.
    device_ : torch.device
        The device used.
    input_shape_ : tuple of int
        Shape of one sample.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    DeepSVDD : The unsupervised special case.
    AutoEncoder : The reconstruction-error detector used for pretraining.

    Notes
    -----
    Where the paper and the authors' code (Deep-SAD-PyTorch) differ, the
    code produced the paper's tables, so its behaviour is the default unless
    the difference was measured not to matter (the package's "Defaults and
    their sources" page has the numbers):

    - PyTorch's default weight initialisation (code; the paper's Appendix E
      says Glorot-uniform, ``init="glorot"``, which lost 6 and 6 AUC points
      on ODDS cardio and satellite);
    - batch size 128 (code; the paper says 200);
    - leaky ReLU slope 0.1 (paper; code 0.01, measured not to matter);
    - c excludes the labeled anomalies (paper; the code includes them);
    - every sample is trained on in every epoch, a final batch smaller than
      half a batch joining the one before (the code drops it);
    - pretraining really initialises phi: the encoder module itself becomes
      phi.  In the reference code the weight copy matched no key, so its
      networks started from random weights (``pretrain=False`` reproduces
      that starting point; on the six ODDS sets of Table 2 the two agree
      within noise).

    Samples labeled ``+1`` are known normals (the labeled quadratic term),
    ``0`` unlabeled, ``-1`` known anomalies.

    With these defaults Deep SAD reproduces the paper's Table 2 on the six
    ODDS sets (``benchmarks/results/odds_deepsad.md``).  With only 1 %
    labeled anomalies the labeled term gets few updates at lr 1e-4;
    ``sampling="balanced", lr=1e-3`` strengthens it (see
    ``benchmarks/results/odds_deepsad_notes.md``).

    References
    ----------
    .. [1] Ruff, L., Vandermeulen, R. A., Görnitz, N., Binder, A., Müller, E.,
       Müller, K.-R., Kloft, M. "Deep Semi-Supervised Anomaly Detection."
       ICLR 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import DeepSAD
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.rand(200, 5), rng.rand(5, 5) + 3]
    >>> y = np.r_[np.zeros(200), -np.ones(5)]     # five known anomalies
    >>> det = DeepSAD(epochs=5, pretrain_epochs=5, random_state=0).fit(X, y)
    >>> det.predict([[0.5, 0.5, 0.5, 0.5, 0.5], [9, 9, 9, 9, 9]])
    array([ 1, -1])
    """

    _parameter_constraints = {
        **_BaseDeepSVDD._parameter_constraints,
        "eta": [Interval(numbers.Real, 0, None, closed="neither")],
        "sampling": [StrOptions({"uniform", "balanced"})],
    }

    def __init__(
        self,
        *,
        eta=1.0,
        sampling="uniform",
        pretrain=True,
        pretrain_epochs=150,
        hidden_layer_sizes="auto",
        network=None,
        init="default",
        epochs=150,
        batch_size=128,
        lr=1e-4,
        lr_milestones=(50,),
        weight_decay=1e-6,
        optimizer="adam",
        input_shape=None,
        contamination="auto",
        device="auto",
        random_state=None,
        verbose=0,
        validation_fraction=None,
        n_iter_no_change=None,
        callbacks=None,
        **kwargs,
    ):
        self.eta = eta
        self.sampling = sampling
        self.pretrain = pretrain
        self.pretrain_epochs = pretrain_epochs
        self.hidden_layer_sizes = hidden_layer_sizes
        self.network = network
        self.init = init
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_milestones = lr_milestones
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.input_shape = input_shape
        self.contamination = contamination
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self._set_routed(kwargs)

    @staticmethod
    def _training_rows(X, y):
        return (X, y.float())

    def _center_rows(self, X, s):
        return X[s != -1]  # c: the unlabeled and known-normal data

    def _sample_weights(self, data):
        anomalous = data[1] == -1
        n_anomalous = int(anomalous.sum())
        if self.sampling == "uniform" or n_anomalous == 0:
            return None
        # Half of every epoch's draws are labeled anomalies, half the rest.
        return torch.where(anomalous, 0.5 / n_anomalous, 0.5 / (len(anomalous) - n_anomalous))

    @classmethod
    def _objective(cls, stack, c):
        """Objective (8) for a stack of members with centres ``c`` (``(K, 1, rep_dim)``)."""
        eta = stack.param(lambda est: est.eta)
        return (lambda net, epoch, x, s: deep_sad_loss(squared_distance(net(x), c), s, eta)), None
