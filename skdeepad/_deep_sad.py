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

from ._autoencoder import build_autoencoder, train_autoencoder, user_network
from .base import BaseDeepDetector

__all__ = ["DeepSAD", "DeepSVDD", "deep_sad_loss", "one_class_loss", "soft_boundary_loss"]

#: Epochs of soft-boundary training before the radius is first updated
#: (the authors' code; the paper leaves it unspecified).
SOFT_BOUNDARY_WARM_UP_EPOCHS = 10


def squared_distance(z, c):
    """``||z_i - c||^2`` for every row of ``z``."""
    return ((z - c) ** 2).sum(dim=1)


def deep_sad_loss(dist, semi_targets, eta=1.0, eps=1e-6):
    """Deep SAD objective (8) without weight decay, averaged over the batch.

    Unlabeled samples (``semi_targets == 0``) contribute their squared
    distance ``d``; labeled ones ``eta * (d + eps) ** y``: ``eta * d`` for
    known normals (+1) and ``eta / (d + eps)`` for known anomalies (-1).  The
    mean over the whole batch is the paper's ``1 / (n + m)`` normalisation.
    """
    labeled = eta * (dist + eps) ** semi_targets
    return torch.where(semi_targets == 0, dist, labeled).mean()


def one_class_loss(dist):
    """One-Class Deep SVDD objective: the mean squared distance to ``c``."""
    return dist.mean()


def soft_boundary_loss(dist, radius, nu):
    """Soft-boundary Deep SVDD: ``R^2 + 1/nu * mean(max(0, d - R^2))``."""
    r2 = radius**2
    return r2 + torch.relu(dist - r2).mean() / nu


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

    def _initial_network(self, X, valid):
        """phi: the pretrained encoder, or a fresh network (Appendix C)."""
        if self.network is not None:
            if self.pretrain:
                raise ValueError(
                    "pretrain=True needs a decoder, which can only be built for the "
                    "default networks; with a custom `network`, set pretrain=False "
                    "(or pretrain it yourself before passing it)."
                )
            network = user_network(self.network, self.input_shape_, self.device_)
            if any(n.endswith("bias") for n, p in network.named_parameters() if p.requires_grad):
                warnings.warn(
                    "The network has bias parameters; a bias lets phi map every input "
                    "to c (hypersphere collapse, Ruff et al. 2018). Use bias-free layers.",
                    UserWarning,
                    stacklevel=2,
                )
            self.hidden_layer_sizes_ = None
            return network
        autoencoder, self.hidden_layer_sizes_ = build_autoencoder(self, X)
        if self.pretrain:
            self.pretrain_history_ = train_autoencoder(
                self, autoencoder, X, None if valid is None else valid[:1],
                epochs=self.pretrain_epochs, desc=f"{type(self).__name__} pretraining",
            )
        # The encoder module itself becomes phi: its weights and BatchNorm
        # statistics carry over exactly (unlike the reference code, whose
        # state-dict copy matched no key and left phi at random weights).
        return autoencoder.encoder

    def _fit_hypersphere(self, data, valid, normal):
        """Pretrain, fix c on the ``normal`` rows, then minimise the objective.

        ``data`` (and ``valid``) are the tensors the loss takes: ``(X,)`` for
        Deep SVDD, ``(X, y)`` with float labels for Deep SAD.  Returns the
        final squared distances of the training rows to c.
        """
        X = data[0]
        self.network_ = self._initial_network(X, valid)
        outputs = self._map_batches(self.network_, X[normal])
        c = init_center(outputs.clone())
        self.center_ = c.double().cpu().numpy()
        loss_fn, step = self._objective(c)
        self.history_ = self._train(loss_fn, [self.network_], data, valid=valid, step=step,
                                    sample_weights=self._sample_weights(data))
        dist = -self._score_tensor(X)
        self._warn_if_collapsed(dist)
        return dist

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
                stacklevel=2,
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
        Optimizer.
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

    def _fit(self, X, y, valid):
        X = X[y != -1]  # unsupervised: known anomalies are left out
        if valid is not None:
            valid = (valid[0][valid[1] != -1],)
        self._radius = torch.zeros((), device=self.device_)
        dist = self._fit_hypersphere((X,), valid, normal=slice(None))
        if self.objective == "soft-boundary":
            self._radius = torch.quantile(dist.sqrt(), 1 - self.nu)
        self.radius_ = float(self._radius)
        del self._radius

    def _objective(self, c):
        if self.objective == "one-class":
            return (lambda x: one_class_loss(squared_distance(self.network_(x), c))), None
        radius, nu, net = self._radius, self.nu, self.network_

        def loss_fn(x):
            return soft_boundary_loss(squared_distance(net(x), c), radius, nu)

        def make_step(optimizer):
            def step(batch, epoch):
                (x,) = batch
                optimizer.zero_grad(set_to_none=True)
                dist = squared_distance(net(x), c)
                loss = soft_boundary_loss(dist, radius, nu)
                loss.backward()
                optimizer.step()
                if epoch >= SOFT_BOUNDARY_WARM_UP_EPOCHS:
                    # Optimal R for the batch's pre-step distances (App. E).
                    radius.copy_(torch.quantile(dist.detach().sqrt(), 1 - nu))
                return loss.detach()

            return step

        return loss_fn, make_step

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
        Optimizer.
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

    def _fit(self, X, y, valid):
        if valid is not None:
            valid = (valid[0], valid[1].float())
        self._fit_hypersphere((X, y.float()), valid, normal=y != -1)

    def _sample_weights(self, data):
        anomalous = data[1] == -1
        n_anomalous = int(anomalous.sum())
        if self.sampling == "uniform" or n_anomalous == 0:
            return None
        # Half of every epoch's draws are labeled anomalies, half the rest.
        return torch.where(anomalous, 0.5 / n_anomalous, 0.5 / (len(anomalous) - n_anomalous))

    def _objective(self, c):
        net, eta = self.network_, self.eta
        return (lambda x, s: deep_sad_loss(squared_distance(net(x), c), s, eta)), None
