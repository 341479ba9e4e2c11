"""ADRA: anomaly detection with residual adaptation (Deecke et al., 2020).

The algorithm, as this module runs it:

1. take a backbone f_theta pretrained on a large labeled task (ImageNet in
   the paper; :func:`skdeepad.pretraining.pretrain_classifier` offline);
2. freeze theta and put K gated bias-free 1x1 adapters alpha beside every
   convolution with a kernel larger than 1x1 (Eqs. 2-3,
   :func:`skdeepad.networks.add_residual_adapters`), plus a new linear head;
3. minimise the hypersphere classifier loss H (Eq. 1, corrected) over alpha
   only (Eq. 4), on batches of half normal samples and half samples of an
   outlier-exposure corpus Q_m;
4. score a sample by its radial distance h(f(x)) (higher = more anomalous;
   ``score_samples`` is its negative).

``mode`` swaps step 2 for the paper's comparison arms, everything else equal.
"""

import copy
import math
import numbers
import os
import warnings

import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ._deep_sad import init_center
from ._train import batch_slices
from .base import BaseDeepDetector
from .networks import ResNet26, add_residual_adapters, he_init
from .networks._batchnorm import batch_norm_layers, recalibrate_batch_norm

__all__ = ["ADRA", "bce_loss", "hsc_loss", "l2sp_penalty", "pseudo_huber"]


def pseudo_huber(z):
    """Radial function h(z) = sqrt(||z||^2 + 1) - 1 of each row (Ruff et al., 2020)."""
    return torch.sqrt((z * z).sum(dim=1) + 1.0) - 1.0


def hsc_loss(h, corpus, eps=1e-6):
    """Hypersphere classifier loss, Eq. (1) of the paper in its corrected form.

    ``(1 - y) h - y log(1 - exp(-h))`` averaged over the batch, with y = 1
    for corpus samples and y = 0 for normal ones: normal samples are pulled
    to the centre, corpus samples pushed away.  (The printed Eq. 1 swaps y
    and 1 - y and flips the sign of the log term; taken literally it would
    pull the corpus to the centre.)  It is the binary cross-entropy of
    ``p(anomalous | x) = 1 - exp(-h)``.  ``log(1 - exp(-h))`` is computed
    as ``log(-expm1(-h))`` with h clamped to at least ``eps``, which is
    finite for every h >= 0.
    """
    corpus = corpus.bool()
    pushed = -torch.log(-torch.expm1(-h.clamp_min(eps)))
    return torch.where(corpus, pushed, h).mean()


def bce_loss(logit, corpus):
    """Binary cross-entropy of a corpus-vs-normal logit (the authors' code)."""
    return F.binary_cross_entropy_with_logits(logit, corpus.float())


def l2sp_penalty(params, reference, alpha):
    """L2-SP regulariser ``alpha / 2 * ||theta - theta_0||^2`` (Li et al., 2018)."""
    return alpha / 2 * sum(((p - p0) ** 2).sum() for p, p0 in zip(params, reference))


class _ADRANetwork(nn.Module):
    """Body (backbone, adapted or not) followed by the new linear head."""

    def __init__(self, body, head):
        super().__init__()
        self.body, self.head = body, head

    def forward(self, x):
        return self.head(self.body(x).flatten(1))


def _corpus_sampler(n, device):
    """Draw corpus indices batch after batch from reshuffled passes over the corpus."""
    buffer = torch.empty(0, dtype=torch.long, device=device)

    def draw(m):
        nonlocal buffer
        while len(buffer) < m:
            buffer = torch.cat([buffer, torch.randperm(n, device=device)])
        idx, buffer = buffer[:m], buffer[m:]
        return idx

    return draw


class ADRA(BaseDeepDetector):
    """Anomaly detection with residual adaptation of a frozen pretrained network.

    A pretrained CNN is kept fixed; every convolution with a kernel larger
    than 1x1 gets ``n_adapters`` parallel bias-free 1x1 convolutions with the
    same stride, whose outputs are added to the frozen convolution's before
    the following layer (its BatchNorm in a ResNet), mixed for K > 1 by a
    per-sample, per-layer gate (softmax or sparsemax of a linear map of the
    globally average-pooled input).  Only the adapters, the gates, a new
    linear head (and, as in the authors' code, the BatchNorm scale and
    shift) are trained, to tell the normal samples from an
    outlier-exposure corpus with the hypersphere classifier loss

    .. math::

        \\frac{1}{N} \\sum_i (1 - y_i)\\, h(f(x_i))
        - y_i \\log\\left(1 - e^{-h(f(x_i))}\\right),
        \\qquad h(z) = \\sqrt{\\|z\\|^2 + 1} - 1,

    with ``y_i = 1`` for corpus samples (Eq. 1, corrected; see Notes).  The
    anomaly score is ``h(f(x))``; ``score_samples`` returns its negative.

    Read more in the :ref:`User Guide <conventions>`.

    Parameters
    ----------
    backbone : "resnet26", torch.nn.Module or path, default="resnet26"
        The pretrained network, mapping a batch of images to features (a
        vector or a feature map, flattened).  A module is copied, never
        modified.  A path (str or path-like) is a ResNet26 state dict saved
        with ``torch.save(net.state_dict(), path)``, read with
        ``torch.load(weights_only=True)``, which cannot run code; a file
        that cannot be read so is a ``ValueError`` naming it.  ``"resnet26"``
        builds a randomly initialised :class:`~skdeepad.networks.ResNet26`
        and warns: without pretraining there is nothing to transfer, the
        premise of the method.
    mode : {"adra", "scratch", "finetune", "l2sp"}, default="adra"
        ``"adra"``: frozen backbone plus adapters.  The paper's comparison
        arms, sharing everything else: ``"scratch"`` re-initialises the
        backbone (He-normal) and trains all of it; ``"finetune"`` trains all
        of the pretrained backbone (TF); ``"l2sp"`` does so with the L2-SP
        penalty ``l2sp_alpha / 2 * ||theta - theta_0||^2`` pulling the
        weights ADRA would freeze back to their pretrained values.
    n_adapters : int, default=2
        Number K of 1x1 corrections per convolution (``mode="adra"`` only);
        the paper's default is 2 (it tests 1, 2, 4).  K = 1 has no gate (Eq. 2).
    gate : {"softmax", "sparsemax"}, default="softmax"
        Normalisation of the gate for K > 1.
    adapter_init : {"he", "zeros"}, default="he"
        Initial adapter weights.  ``"he"``: random He-normal, as the paper
        ("initialized randomly") and the authors' code do; each adapter then
        adds a perturbation as large as a fresh convolution's output, which
        long training (120 epochs) absorbs.  ``"zeros"``: the adapted network
        starts exactly at the pretrained one (see the MNIST miniature).
    loss : {"hsc", "bce"}, default="hsc"
        ``"hsc"``: the hypersphere classifier of the paper (Eq. 1,
        corrected).  ``"bce"``: binary cross-entropy on a scalar logit, as in
        the authors' code (needs ``rep_dim=1``).
    rep_dim : int, default=1
        Output size of the head, the dimension of f(x) (not stated in the
        paper; the code's head is scalar).
    train_bn : bool, default=True
        Train the BatchNorm scale and shift of the backbone (the authors'
        code).  ``False`` freezes them too, as the paper's text says.
    l2sp_alpha : float, default=1e-2
        Strength of the L2-SP penalty (``mode="l2sp"`` only; the paper's
        1e-2).
    recalibrate_bn : bool, default=True
        After training, re-estimate the BatchNorm running statistics at the
        final weights with one gradient-free pass of training-mode batches
        (half normal, half corpus).  ``False`` keeps the moving averages of
        training, as the authors' code does; they lag behind the weights and,
        after short schedules, can make evaluation-mode scores differ wildly
        from training-mode ones (see Notes).
    epochs : int, default=120
        Passes over the normal training samples.
    batch_size : int, default=64
        Normal samples per step.  Each step adds as many corpus samples, so
        the default makes the paper's batches of 128 = 64 normal + 64 corpus.
    lr : float, default=0.1
        Learning rate (not stated in the paper; the authors' code uses 0.1).
    lr_milestones : tuple of int, default=(80, 100)
        Epochs after which the learning rate is divided by 10.
    weight_decay : float, default=1e-4
        L2 penalty of the optimizer, on the trained parameters only.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or Optimizer class, default="sgd"
        Optimizer: the paper's SGD with momentum 0.9 (Sec. 4.1, "stochastic
        gradient descent (momentum parameter of 0.9, weight decay of
        10^-4)"; the authors' code too).  Its own arguments are passed with
        the prefix ``optimizer__`` (see :ref:`routing`); ADRA's default
        ``optimizer__momentum`` is 0.9, applied only with
        ``torch.optim.SGD`` (``"sgd"``), where ``optimizer__momentum=0``
        gives plain SGD.  ``network__<arg>`` arguments go to
        :class:`~skdeepad.networks.ResNet26` when ``backbone="resnet26"``
        (e.g. ``network__widths=(16, 32, 64)`` for a small network trained
        with ``mode="scratch"``); a module or saved weights fix the
        architecture, and ``network__<arg>`` is then an error.
    input_shape : tuple of int, default=None
        Shape ``(channels, height, width)`` of one image when ``X`` is given
        flattened.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected fraction of outliers, which sets ``offset_``.  ``"auto"``:
        the classifier's own boundary, ``p(anomalous | x) = 1/2`` (``h =
        log 2`` for "hsc", logit 0 for "bce"); without a corpus, 10 % of
        the training data are flagged.
    device : "auto", "cpu", "cuda" or torch.device, default="auto"
        Where to train and score.
    random_state : int, RandomState instance or None, default=None
        Seed of the new parameters, the batch order and the corpus draws.
    verbose : int, default=0
        0: silent; 1: a progress bar with the loss; 2: also one line per
        epoch with the losses, learning rate and duration.
    validation_fraction : float in (0, 1), default=None
        Fraction of the rows (normal and corpus) held out to monitor the loss.
    n_iter_no_change : int, default=None
        Early stopping patience on the validation loss (needs
        ``validation_fraction``).
    callbacks : list of Callback, default=None
        Hooks into every training loop of ``fit``
        (:class:`skdeepad.callbacks.Callback`, used as given); a fit with
        callbacks is not stacked.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained model: ``network_.body`` (the backbone with its adapters)
        and ``network_.head``.
    center_ : ndarray of shape (rep_dim,)
        Centre of the hypersphere: zero with a corpus, the mean initial
        output of the normal data without one.
    unsupervised_ : bool
        True when ``fit`` saw no corpus (the UADRA fallback).
    n_trainable_parameters_ : int
        Number of trained parameters (adapters, gates, head, BatchNorm
        affine for ``mode="adra"``).
    history_ : list of dict
        Per-epoch losses, learning rate and duration.
    offset_ : float
        Threshold: ``decision_function = score_samples - offset_``.
    device_ : torch.device
        The device used.
    input_shape_ : tuple of int
        Shape of one sample.
    n_features_in_ : int
        Number of values per sample seen in ``fit``.

    See Also
    --------
    skdeepad.networks.ResNet26 : The paper's backbone.
    skdeepad.pretraining.pretrain_classifier : Pretrain a backbone on labeled data.
    skdeepad.networks.add_residual_adapters : The adapter insertion used here.
    DeepSAD : Outlier exposure with a network trained from an autoencoder.

    Notes
    -----
    **Labels.** Rows with ``y == -1`` are the outlier-exposure corpus Q_m;
    rows with ``y`` 0 or +1 are the normal data S_n.  The corpus need not be
    anomalies of the task (the paper uses CIFAR-100 for CIFAR-10); it should
    come from a nearby domain and share no class with the normal data.  With
    no corpus at all ``fit`` warns and trains the paper's unsupervised
    ablation (UADRA): only the normal term ``h(f(x) - c)``, with a
    Deep SVDD-type collapse guard (a bias-free head, the centre c the mean
    initial output pushed away from 0, BatchNorm affine parameters frozen),
    and a warning if the outputs still collapse onto c.

    **Batches.** Every step takes ``batch_size`` normal samples (an epoch is
    one pass over them, the last batch possibly smaller) and as many corpus
    samples, drawn from successive reshuffled passes over the corpus, as
    the code's zipped loaders do.

    **Corpus collapse.** With a corpus that is easy to tell apart from the
    normal data, the network can learn "normal vs corpus" and nothing
    within the normal data: every normal sample (and every anomaly from the
    same domain) gets the same score.  ``fit`` warns when the normal
    training scores are all equal.  The MNIST miniature shows it after long
    training, the trained BatchNorm shift silencing every digit before the
    last ReLU (``benchmarks/results/adra_notes.md``).

    **Where paper and code differ** (spec: ``shared/specs/adra.md``):

    - loss: the paper's HSC is the default, in its corrected form (the
      printed Eq. 1 swaps the label roles and the sign of the log term);
      the code's BCE is ``loss="bce"``;
    - K > 1 experts with gates (paper) are not in the code (K = 1, no gate);
      the gate follows the authors' dynamic-adapter papers: a linear map of
      the pooled input of each layer, softmax (2020 paper) by default,
      sparsemax (their 2022 code) as an option;
    - schedule: the paper's 120 epochs with drops at 80 and 100 (code: 100
      epochs, drops at 60 and 80); lr 0.1 from the code (the paper does not
      state it);
    - freezing: the paper says every pretrained parameter stays fixed; the
      code trains the BatchNorm scale and shift (``train_bn=True``, the
      default here).  Running statistics follow the data in training mode
      either way.  Every other backbone parameter (also those of 1x1
      convolutions and linear layers of a user's network) is frozen;
    - L2-SP: the paper follows Li et al. (2018), ``alpha / 2 * ||theta -
      theta_0||^2`` on the pretrained weights, which get no weight decay;
      the code adds ``alpha * ||theta - theta_0||`` (unsquared, 3x3 weights
      only) on top of weight decay.  Here it acts on exactly the parameters
      ADRA freezes;
    - no data augmentation (the code crops and flips both S_n and Q_m; the
      paper does not mention it): augment the arrays beforehand if wanted;
    - BatchNorm statistics are re-estimated after training
      (``recalibrate_bn=True``; neither paper nor code do this).  With the
      paper's 120 epochs and final learning rate 1e-3 the moving averages
      have settled; in short runs they had not, and on toy data the
      evaluation-mode scores of the training normals exceeded those of the
      corpus.  ``recalibrate_bn=False`` reproduces the code (the MNIST
      miniature reports both).

    References
    ----------
    .. [1] Deecke, L., Ruff, L., Vandermeulen, R. A., Bilen, H. "Deep Anomaly
       Detection by Residual Adaptation." arXiv:2010.02310, 2020.
    .. [2] Ruff, L., Vandermeulen, R. A., Franks, B. J., Müller, K.-R.,
       Kloft, M. "Rethinking Assumptions in Deep Anomaly Detection."
       arXiv:2006.00339, 2020.
    .. [3] Rebuffi, S.-A., Bilen, H., Vedaldi, A. "Efficient parametrization
       of multi-domain deep neural networks." CVPR 2018.
    .. [4] Li, X., Grandvalet, Y., Davoine, F. "Explicit inductive bias for
       transfer learning with convolutional networks." ICML 2018.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skdeepad import ADRA
    >>> from skdeepad.networks import ResNet26
    >>> _ = torch.manual_seed(0)
    >>> rng = np.random.RandomState(0)
    >>> normal = 0.1 * rng.rand(40, 1, 8, 8)
    >>> corpus = 0.1 * rng.rand(40, 1, 8, 8) + 0.5
    >>> X = np.concatenate([normal, corpus]); y = np.r_[np.zeros(40), -np.ones(40)]
    >>> backbone = ResNet26(in_channels=1, widths=(4, 4, 8))   # pretrain it in practice
    >>> det = ADRA(backbone=backbone, epochs=10, lr=0.01, random_state=0).fit(X, y)
    >>> det.predict(np.concatenate([normal[:2], corpus[:2]]))
    array([ 1,  1, -1, -1])
    """

    # SGD with momentum 0.9: the paper's Sec. 4.1 and the authors' code.
    _optimizer_defaults = {torch.optim.SGD: {"momentum": 0.9}}

    _parameter_constraints = {
        **BaseDeepDetector._parameter_constraints,
        "backbone": [StrOptions({"resnet26"}), str, os.PathLike, nn.Module],
        "mode": [StrOptions({"adra", "scratch", "finetune", "l2sp"})],
        "n_adapters": [Interval(numbers.Integral, 1, None, closed="left")],
        "gate": [StrOptions({"softmax", "sparsemax"})],
        "adapter_init": [StrOptions({"he", "zeros"})],
        "loss": [StrOptions({"hsc", "bce"})],
        "rep_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "train_bn": ["boolean"],
        "l2sp_alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "recalibrate_bn": ["boolean"],
    }

    def __init__(
        self,
        *,
        backbone="resnet26",
        mode="adra",
        n_adapters=2,
        gate="softmax",
        adapter_init="he",
        loss="hsc",
        rep_dim=1,
        train_bn=True,
        l2sp_alpha=1e-2,
        recalibrate_bn=True,
        epochs=120,
        batch_size=64,
        lr=0.1,
        lr_milestones=(80, 100),
        weight_decay=1e-4,
        optimizer="sgd",
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
        self.backbone = backbone
        self.mode = mode
        self.n_adapters = n_adapters
        self.gate = gate
        self.adapter_init = adapter_init
        self.loss = loss
        self.rep_dim = rep_dim
        self.train_bn = train_bn
        self.l2sp_alpha = l2sp_alpha
        self.recalibrate_bn = recalibrate_bn
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

    def _check_params(self):
        super()._check_params()
        if self._routed("network") and not (isinstance(self.backbone, str)
                                            and self.backbone == "resnet26"):
            raise ValueError(
                f"network__ arguments ({', '.join(self._routed('network'))}) configure "
                "the default backbone='resnet26'; the given backbone fixes the "
                "architecture. Drop them or use backbone='resnet26'."
            )
        if self.loss == "bce" and self.rep_dim != 1:
            raise ValueError(
                f"loss='bce' classifies with a scalar logit and needs rep_dim=1; got "
                f"rep_dim={self.rep_dim}. Use loss='hsc' for a vector output."
            )

    # ------------------------------------------------------------ backbone
    def _load_backbone(self):
        """A private copy of the backbone and whether it carries pretraining."""
        backbone = self.backbone
        if isinstance(backbone, nn.Module):
            return copy.deepcopy(backbone), True
        if isinstance(backbone, str) and backbone == "resnet26":
            if len(self.input_shape_) != 3:
                raise ValueError(
                    f"backbone='resnet26' needs images (channels, height, width); X has "
                    f"samples of shape {self.input_shape_}. Pass N-D images or set "
                    "input_shape."
                )
            routed = self._checked_routed("network", ResNet26,
                                          {"in_channels": "the images' channels"})
            return ResNet26(in_channels=self.input_shape_[0], **routed), False
        path = os.fspath(backbone)
        if not os.path.isfile(path):
            raise ValueError(
                f"backbone={backbone!r} is neither 'resnet26', an nn.Module nor an "
                "existing file of saved ResNet26 weights."
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated or garbage file, or pickled objects
            raise ValueError(
                f"backbone={backbone!r}: the file {path} could not be loaded as a "
                "ResNet26 state dict with torch.load(weights_only=True), which reads "
                "only tensors and never runs code: it is corrupt or truncated, or "
                "holds objects other than tensors. Save the weights with "
                f"torch.save(net.state_dict(), path). ({type(exc).__name__}: {exc})"
            ) from exc
        if not isinstance(state, dict):
            raise ValueError(f"{path} does not hold a state dict; save net.state_dict().")
        try:
            return ResNet26.from_state_dict(state), True
        except (ValueError, RuntimeError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"backbone={backbone!r}: the state dict in {path} does not describe a "
                f"ResNet26: {exc}"
            ) from exc

    def _check_channels(self, body):
        first = next((m for m in body.modules() if isinstance(m, nn.Conv2d)), None)
        if first is None:
            raise ValueError(
                f"The backbone {type(body).__name__} has no nn.Conv2d layer; ADRA adapts "
                "convolutional networks."
            )
        if len(self.input_shape_) == 3 and first.in_channels != self.input_shape_[0]:
            raise ValueError(
                f"X has images with {self.input_shape_[0]} channel(s), but the backbone's "
                f"first convolution expects {first.in_channels}. Convert the images (e.g. "
                "repeat a grayscale channel) or use a backbone built for them."
            )

    def _pretrained_parameters(self, body):
        """The parameters ADRA keeps fixed: all but BatchNorm affine when train_bn."""
        keep = set()
        if self._bn_trainable():
            for module in body.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    keep.update(id(p) for p in module.parameters())
        return [p for p in body.parameters() if id(p) not in keep]

    def _bn_trainable(self):
        # Collapse guard without a corpus: a learnable BatchNorm shift would be a bias.
        return self.train_bn and not self.unsupervised_

    def _build_body(self):
        """The backbone prepared for ``mode`` (Eq. 2-3 adapters for "adra")."""
        body, pretrained = self._load_backbone()
        self._check_channels(body)
        if not pretrained and self.mode != "scratch":
            warnings.warn(
                "backbone='resnet26' is randomly initialised: there is no pretrained "
                "representation to transfer, which is the premise of ADRA. Pass a "
                "pretrained network (see skdeepad.pretraining.pretrain_classifier).",
                UserWarning,
                stacklevel=4,
            )
        body = body.to(self.device_)
        if self.mode == "scratch":
            he_init(body)
        if self.mode == "adra":
            # freezes exactly self._pretrained_parameters(body)
            body = add_residual_adapters(body, self.n_adapters, self.gate,
                                         train_bn=self._bn_trainable(), copy_network=False,
                                         init=self.adapter_init)
        else:
            for p in body.parameters():
                p.requires_grad_(True)
            if not self._bn_trainable():
                for m in body.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.requires_grad_(False)
        return body

    def _n_body_features(self, body, X):
        body.eval()
        try:
            with torch.no_grad():
                return body(X[:2]).flatten(1).shape[1]
        except RuntimeError as exc:
            raise ValueError(
                f"The backbone cannot process samples of shape {tuple(X.shape[1:])}: {exc}"
            ) from exc

    # ----------------------------------------------------------------- fit
    def _fit(self, X, y, valid):
        corpus = y == -1
        n_corpus, n_normal = int(corpus.sum()), int((~corpus).sum())
        if n_corpus == 1:
            raise ValueError(
                "The outlier-exposure corpus (rows with y == -1) has 1 sample; ADRA "
                "contrasts the normal data with a corpus of many samples (the paper: "
                "50,000). Give at least 2, or none for the unsupervised variant."
            )
        if n_normal < 2:
            raise ValueError(
                f"ADRA needs at least 2 normal samples (y == 0 or +1); got {n_normal}."
            )
        self.unsupervised_ = n_corpus == 0
        if self.unsupervised_:
            warnings.warn(
                "No outlier-exposure corpus (no y == -1): ADRA's premise is the contrast "
                "with a corpus, and without one it trains the unsupervised UADRA "
                "ablation (a one-class objective with collapse guards). Pass corpus "
                "samples with y == -1.",
                UserWarning,
                stacklevel=3,
            )
        body = self._build_body()
        head = nn.Linear(self._n_body_features(body, X), self.rep_dim,
                         bias=not self.unsupervised_).to(self.device_)
        self.network_ = _ADRANetwork(body, head)
        X_normal, X_corpus = X[~corpus], X[corpus]
        if self.unsupervised_:
            center = init_center(self._map_batches(self.network_, X_normal))
        else:
            center = torch.zeros(self.rep_dim, device=self.device_)
        self.center_ = center.double().cpu().numpy()

        loss_fn = self._objective(center)
        params, penalty = self._parameter_groups()
        self.n_trainable_parameters_ = sum(
            p.numel() for p in self.network_.parameters() if p.requires_grad)
        if valid is not None:
            valid = (valid[0], (valid[1] == -1).float())
        self.history_ = self._train(loss_fn, [self.network_], (X_normal,), valid=valid,
                                    step=self._balanced_step(loss_fn, X_corpus, penalty),
                                    params=params)
        if self.recalibrate_bn and batch_norm_layers(self.network_):
            recalibrate_batch_norm(self.network_,
                                   self._recalibration_batches(X_normal, X_corpus))
        self._warn_if_collapsed(X_normal)

    def _recalibration_batches(self, X_normal, X_corpus):
        """The batches that re-estimate BatchNorm statistics at the final weights.

        One pass over the normal rows, reshuffled, each batch completed by
        corpus rows as in training.  The moving average training leaves lags
        behind the weights; after a short schedule the gap can invert the
        scores.
        """
        draw = _corpus_sampler(len(X_corpus), X_corpus.device) if len(X_corpus) else None
        perm = torch.randperm(len(X_normal), device=X_normal.device)
        for a, b in batch_slices(len(X_normal), self.batch_size):
            x = X_normal[perm[a:b]]
            yield x if draw is None else torch.cat([x, X_corpus[draw(len(x))]])

    def _objective(self, center):
        """The batch loss ``loss_fn(x, corpus) -> scalar`` (Eq. 1 or BCE)."""
        net = self.network_
        if self.loss == "bce":
            return lambda x, t: bce_loss(net(x)[:, 0], t)
        return lambda x, t: hsc_loss(pseudo_huber(net(x) - center), t)

    def _parameter_groups(self):
        """Optimizer parameter groups and the L2-SP penalty (None unless l2sp)."""
        trainable = [p for p in self.network_.parameters() if p.requires_grad]
        if self.mode != "l2sp":
            return trainable, None
        anchored = self._pretrained_parameters(self.network_.body)
        reference = [p.detach().clone() for p in anchored]
        ids = set(id(p) for p in anchored)
        rest = [p for p in trainable if id(p) not in ids]
        alpha = self.l2sp_alpha

        def penalty():
            return l2sp_penalty(anchored, reference, alpha)

        # Li et al. (2018): the anchored weights get L2-SP instead of weight decay.
        return [{"params": anchored, "weight_decay": 0.0}, {"params": rest}], penalty

    def _balanced_step(self, loss_fn, X_corpus, penalty):
        """Train step on a batch of normal rows completed by as many corpus rows."""
        draw = _corpus_sampler(len(X_corpus), X_corpus.device) if len(X_corpus) else None

        def make_step(optimizer):
            def step(batch, epoch):
                (x,) = batch
                t = torch.zeros(len(x), device=x.device)
                if draw is not None:
                    x = torch.cat([x, X_corpus[draw(len(x))]])
                    t = torch.cat([t, torch.ones_like(t)])
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(x, t)
                if penalty is not None:
                    loss = loss + penalty()
                loss.backward()
                optimizer.step()
                return loss.detach()

            return step

        return make_step

    def _warn_if_collapsed(self, X_normal):
        """Warn when every normal training sample gets the same score."""
        scores = self._score_tensor(X_normal)
        if float(scores.max() - scores.min()) > 1e-6 * (1.0 + float(scores.abs().max())):
            return
        hint = ("Supply an outlier-exposure corpus (y == -1)." if self.unsupervised_ else
                "The network tells the normal data from the corpus without ranking normal "
                "samples, which happens when the corpus is easy to tell apart: train for "
                "fewer epochs, set train_bn=False or use a corpus closer to the data.")
        warnings.warn(
            "All normal training samples get the same score (collapse): the scores carry "
            f"no information. {hint}",
            UserWarning,
            stacklevel=4,
        )

    # ------------------------------------------------------------- scoring
    def _score_batch(self, X):
        """Minus the anomaly score: -h(f(x) - c) for "hsc", -logit for "bce"."""
        out = self.network_(X)
        if self.loss == "bce":
            return -out[:, 0]
        center = torch.as_tensor(self.center_, dtype=out.dtype, device=out.device)
        return -pseudo_huber(out - center)

    def _auto_offset(self, train_scores):
        if self.unsupervised_:
            return super()._auto_offset(train_scores)
        return 0.0 if self.loss == "bce" else -math.log(2.0)
