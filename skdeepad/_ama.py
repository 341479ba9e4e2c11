"""AMA: the Adversarial Mirrored AutoEncoder (Somepalli et al., UAI 2021).

An autoencoder (encoder E, generator G) with no pixel loss: a Wasserstein
critic D sees channel-stacked *mirror pairs*, ``[x, x]`` as real and
``[x, G(E(x))]`` as fake (Eq. 1).  Two latent regularisers shape the code
space: simplex interpolation of k codes, whose decodings must also look like
mirror pairs, and synthetic negatives from an "atypical" latent region whose
decodings must *not* (Eq. 2-4).  Each iteration (the authors' ``train.py``):

1. replace ``neg_fraction`` of the batch by negatives ``G(z_neg)``
   (:func:`atypical_latents`) or, when labeled anomalies are given, use
   those instead (the semi-supervised variant);
2. ``n_critic`` critic steps on :func:`critic_loss` (Eq. 2 maximised over D,
   with the gradient penalty :func:`gradient_penalty`);
3. one encoder+generator step on :func:`autoencoder_loss` (Eq. 2 minimised
   over E and G, with the code-norm regulariser :func:`code_norm`).

The anomaly score (Eq. 5-6): ``R(x) = ||f([x, x]) - f([x, G(E(x))])||_1``
with f the critic's penultimate features, and the A-score, the density of a
Gaussian fitted to R on the training data.  ``score_samples`` is the *log*
A-score (higher = more normal, never underflows), ``r_score`` is R.
"""

import functools
import math
import numbers

import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .base import user_network
from .base import BaseDeepDetector
from .networks import default_hidden_layer_sizes
from .networks._ama_nets import make_ama_networks

__all__ = [
    "AMA",
    "atypical_latents",
    "autoencoder_loss",
    "code_norm",
    "critic_loss",
    "gaussian_log_density",
    "gradient_penalty",
    "mirror_pairs",
    "r_score",
    "simplex_weights",
]

#: Adam betas of the authors' code (``train.py``): E uses beta1 = 0.5, G and D
#: beta1 = 0; ``optimizer__betas`` replaces them by one pair for all three.
_BETAS = {"encoder": (0.5, 0.9), "generator": (0.0, 0.9), "critic": (0.0, 0.9)}

#: The keys of the ``network`` parameter, in the order the networks are built.
_NETWORKS = ("encoder", "generator", "critic")

#: Arguments of :func:`make_ama_networks` that AMA sets from its parameters.
_BUILDER_OWN = {"input_shape": "the data", "latent_dim": "its parameter `latent_dim`",
                "critic_channels": "its parameter `mirrored`",
                "hidden_layer_sizes": "its parameter `hidden_layer_sizes`"}

#: k, the number of codes of a simplex interpolation: 3 in all the paper's
#: experiments (Sec. 3.2) and hard-coded in the authors' ``interpolation.py``.
SIMPLEX_SIZE = 3

#: Upper end of the uniform draws of the interpolation weights and of the
#: radial factors of "radial_scale" (the code's ``atyp_ratio``).
_ALPHA_MAX = 0.5


# ----------------------------------------------------------------- losses
def mirror_pairs(a, b):
    """Stack two batches along the channel (feature) axis: ``[a, b]``.

    Images ``(n, C, H, W)`` give ``(n, 2C, H, W)``; tabular ``(n, p)`` gives
    ``(n, 2p)``.  ``mirror_pairs(x, x)`` is the real pair of Eq. 1,
    ``mirror_pairs(x, G(E(x)))`` the fake one.
    """
    return torch.cat([a, b], dim=1)


def gradient_penalty(critic, real, fake, norm="sample"):
    """WGAN-GP penalty ``E[(||grad D(t)|| - 1)^2]`` on ``t = eps real + (1 - eps) fake``.

    ``eps ~ U(0, 1)`` per sample (Gulrajani et al., 2017; the 1-Lipschitz
    constraint of Eq. 1).  For mirror pairs ``t = [x, eps x + (1 - eps) x_hat]``
    as in the authors' code.

    Parameters
    ----------
    critic : callable
        Maps a batch to one value per sample.
    real, fake : Tensor
        Critic inputs of the same shape.
    norm : {"sample", "channel"}, default="sample"
        ``"sample"``: the norm of each sample's whole gradient (standard
        WGAN-GP).  ``"channel"``: the authors' code, a norm over the channel
        axis only, i.e. one norm per pixel, the penalty averaged over pixels.

    Returns
    -------
    penalty : Tensor
        Scalar, with a graph to the critic's parameters.
    """
    eps = torch.rand((len(real),) + (1,) * (real.dim() - 1), device=real.device,
                     dtype=real.dtype)
    mixed = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    if norm == "sample":
        grad_norm = grad.flatten(1).norm(dim=1)
    else:
        grad_norm = grad.norm(dim=1)
    return ((grad_norm - 1) ** 2).mean()


def simplex_weights(n, k=3, kind="normalized", device=None):
    """Random convex weights of the simplex interpolation, shape ``(n, k)``.

    ``"normalized"`` (the paper, Sec. 3.2): ``alpha_i ~ U[0, 0.5]`` divided by
    their sum.  ``"code"`` (the authors' ``interpolation.py``): the first
    ``k - 1`` weights ``~ U(0, 0.5)``, the last ``1 - sum(others)`` (so for
    k = 3 the last one lies in [0, 1] and usually dominates).
    """
    alpha = _ALPHA_MAX * torch.rand(n, k, device=device)
    if kind == "normalized":
        return alpha / alpha.sum(dim=1, keepdim=True).clamp_min(1e-12)
    alpha[:, -1] = 1 - alpha[:, :-1].sum(dim=1)
    return alpha


def atypical_latents(codes, method="annulus", *, direction="inward", radius=None,
                     delta=0.5):
    """Latents of synthetic negatives by Atypical Selection (Sec. 3.2).

    Parameters
    ----------
    codes : Tensor of shape (m, d)
        Codes E(x) of the batch positions the negatives replace.
    method : {"annulus", "radial_scale", "cube"}, default="annulus"
        ``"annulus"`` (the paper, Fig. 3b-c): a uniformly random direction
        (a normalised Gaussian vector) times a radius drawn uniformly in
        ``[r0 - delta r0, r0]`` (inward) or ``[r0, r0 + delta r0]``
        (outward), with ``r0 = radius`` (the paper's sqrt(d)).  "Uniformly
        between the spheres" is read as uniform in the radius.
        ``"radial_scale"`` (the authors' code): ``alpha E(x)`` (inward) or
        ``E(x) / alpha`` (outward) with ``alpha ~ U(0, 0.5)``.
        ``"cube"`` (the code's ``sipple`` option, after Sipple 2020):
        uniform in ``[0, m]^d``, m the smallest absolute code coordinate of
        the batch.
    direction : {"inward", "outward"}, default="inward"
        Side of the typical set the negatives are drawn from.
    radius : float, "empirical" or None, default=None
        r0 of the annulus; None means the paper's sqrt(d), ``"empirical"``
        the mean norm of ``codes`` (the regulariser pulls the codes inward,
        so they need not sit at sqrt(d)).
    delta : float, default=0.5
        Width of the annulus as a fraction of r0 (the paper's delta / r0).
        The paper chooses delta on validation anomalies and does not report
        it; 0.5 (inward: radii in ``[r0/2, r0]``) is this package's choice.

    Returns
    -------
    z_neg : Tensor of shape (m, d)
    """
    m, d = codes.shape
    if method == "annulus":
        if radius is None:
            r0 = math.sqrt(d)
        elif isinstance(radius, str) and radius == "empirical":
            r0 = code_norm(codes).mean()
        else:
            r0 = float(radius)
        u = torch.randn(m, d, device=codes.device)
        u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)
        offset = delta * r0 * torch.rand(m, 1, device=codes.device)
        r = r0 - offset if direction == "inward" else r0 + offset
        return r * u
    if method == "radial_scale":
        alpha = _ALPHA_MAX * torch.rand(m, 1, device=codes.device).clamp_min(1e-6)
        return alpha * codes if direction == "inward" else codes / alpha
    if method == "cube":
        return codes.abs().min() * torch.rand(m, d, device=codes.device)
    raise ValueError(f"Unknown negative sampling method {method!r}.")


def code_norm(codes):
    """The regulariser's ``||E(x)||_2`` per sample (unsquared, Eq. 3)."""
    return codes.norm(dim=1)


def critic_loss(d_real, d_fake, weights):
    """The critic's side of Eq. 2 (without penalty), to be minimised by D.

    ``-mean(w D(real)) + mean(w D(fake))`` with ``w = +1`` for normal pairs
    and ``w = -lambda_neg`` for negatives: D separates real from fake mirror
    pairs of normal data and does the opposite for negatives (the authors'
    per-sample weighting of Eq. 3-4).
    """
    return -(weights * d_real).mean() + (weights * d_fake).mean()


def autoencoder_loss(d_fake, weights, codes, normal, lambda_reg):
    """The encoder/generator side of Eq. 2, to be minimised by E and G.

    ``-mean(w D([x, G(E(x))])) + lambda_reg * mean_{normal} ||E(x)||``: normal
    reconstructions are pushed to look like mirror pairs, negatives
    (``w < 0``) to look unlike them (Eq. 3-4; the code-norm term of Eq. 3
    over the normal samples only, as in the code).
    """
    reg = code_norm(codes[normal]).mean() if bool(normal.any()) else codes.sum() * 0
    return -(weights * d_fake).mean() + lambda_reg * reg


def r_score(f_real, f_fake):
    """R-score (Eq. 5): ``||f([x, x]) - f([x, x_hat])||_1`` per sample."""
    return (f_real - f_fake).abs().sum(dim=1)


def gaussian_log_density(r, mu, sigma):
    """Log of the A-score (Eq. 6): the log density of ``N(mu, sigma^2)`` at r."""
    return -0.5 * math.log(2 * math.pi * sigma**2) - (r - mu) ** 2 / (2 * sigma**2)


# -------------------------------------------------------------- estimator
class AMA(BaseDeepDetector):
    """Adversarial Mirrored AutoEncoder (Somepalli et al., UAI 2021).

    An encoder E and a generator G are trained against a Wasserstein critic
    D that sees channel-stacked mirror pairs: ``[x, x]`` (real) and
    ``[x, G(E(x))]`` (fake).  There is no pixel loss.  The latent space is
    regularised by simplex interpolation (decodings of convex combinations
    of k = 3 codes must look like mirror pairs), by synthetic negatives from
    an atypical latent region (their reconstructions must not), and by the
    norm of the codes (Eq. 2-4).  The anomaly score is the likelihood of the
    critic-feature distance ``R(x)`` under a Gaussian fitted on the training
    data (Eq. 5-6).

    Read more in the :ref:`User Guide <conventions>`.

    Parameters
    ----------
    latent_dim : "auto" or int, default="auto"
        Code size d.  ``"auto"``: 128 for images (the paper's CIFAR-10 nz),
        the Deep SAD paper's bottleneck size for tabular data (4, 8 or 32).
    hidden_layer_sizes : "auto" or tuple of int, default="auto"
        Hidden layers of the tabular (MLP) family: the encoder's sizes; the
        generator mirrors them and the critic uses them too.  ``"auto"``:
        (128, 64) above 100 features, (32, 16) otherwise.  Unused for images.
    network : dict, default=None
        User networks replacing the defaults, under the keys ``"encoder"``,
        ``"generator"`` and ``"critic"`` (missing keys keep the default),
        each a torch.nn.Module or a callable called as
        ``encoder(input_shape, latent_dim)``, ``generator(input_shape,
        latent_dim)``, ``critic(critic_input_shape)``.  The encoder maps a
        batch to ``(n, d)`` codes, the generator codes back to the input
        shape, and the critic must have a ``features(pair)`` method (the f of
        Eq. 5) and return one value per sample.  The default networks take
        ``network__<arg>`` arguments of
        :func:`~skdeepad.networks.make_ama_networks` (see :ref:`routing`):
        ``network__width`` multiplies the channels of the convolutional
        family (1.0: the authors' 64-128-256 encoder, 256-channel
        generator, 128-channel critic), ``network__output_activation``
        replaces the generator's output chosen from the data range.
    n_critic : int, default=5
        Critic steps per encoder/generator step, on the same batch (the
        code's ``update_ratio``).
    gp_weight : float, default=10.0
        Weight of the gradient penalty (the code's and WGAN-GP's 10); 0
        leaves the spectral normalisation alone to bound the critic.
    lambda_neg : float, default=1.0
        Weight of the negatives (Eq. 2; the code's ``anom_recon_lambda``,
        whose README command uses 5).
    lambda_reg : float, default=1.0
        Weight of the code norm ``||E(x)||`` (Eq. 3; the code's
        ``regularizer_lambda``).
    lambda_inter : float, default=0.2
        Weight of the simplex interpolation term (Eq. 3; the code's
        ``ip_lambda``); 0 disables it.  k = 3 codes are interpolated, as in
        all the paper's experiments (Sec. 3.2) and the code.
    variant : {"paper", "code"}, default="paper"
        Which of the paper and the authors' code to follow where they
        differ (see Notes): ``"paper"`` normalises the interpolation
        weights, lets the interpolation term train E and G, draws the
        negatives' codes from an annulus at sqrt(d) and takes the
        per-sample norm in the gradient penalty; ``"code"`` does as
        ``somepago/AMA`` does (unnormalised weights, detached
        interpolants, real codes rescaled radially, a per-pixel norm).
    negatives : {"inward", "outward"}, callable or None, default="inward"
        Atypical Selection (Sec. 3.2): the side of the typical set the
        synthetic negatives' codes come from, in the region ``variant``
        chooses (paper: radii in ``[sqrt(d)/2, sqrt(d)]`` inward or
        ``[sqrt(d), 1.5 sqrt(d)]`` outward, a width the paper leaves to
        validation anomalies; code: codes shrunk by a factor in (0, 0.5) or
        grown by its inverse).  A callable ``negatives(codes) -> z_neg``
        draws the latents itself from the ``(m, d)`` codes of the rows
        replaced, e.g. ``functools.partial(atypical_latents, delta=0.25)``,
        ``partial(atypical_latents, radius="empirical")`` (an annulus at
        the codes' mean norm) or ``partial(atypical_latents,
        method="cube")`` (Sipple's cube, the paper's comparison); see
        :func:`atypical_latents`.  None: no synthetic negatives (the paper's
        "w/o atypical selection" ablation).
    neg_fraction : float in [0, 1], default=0.1
        Share of each batch replaced by negatives (positions drawn with
        replacement, as in the code).
    neg_start_epoch : int, default=11
        First (0-based) epoch with negatives; the code starts after epoch 10.
    mirrored : bool, default=True
        False makes the critic see ``x`` and ``G(E(x))`` alone (the paper's
        "w/o mirrored Wasserstein loss" ablation).
    epochs : int, default=100
        Training epochs.
    batch_size : int, default=256
        Mini-batch size.
    lr : float, default=3e-4
        Learning rate of all three networks.
    lr_milestones : tuple of int, default=(30, 60, 90)
        Epochs after which the learning rate is divided by 10.
    weight_decay : float, default=0.0
        L2 penalty of the optimizer.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or Optimizer class, default="adam"
        Optimizer (the code's Adam).  Its own arguments are passed with the
        prefix ``optimizer__`` (see :ref:`routing`).  With Adam(W) the
        betas default to the code's, per network: (0.5, 0.9) for E, (0, 0.9)
        for G and D (``train.py``); ``optimizer__betas`` sets one pair for
        all three.
    input_shape : tuple of int, default=None
        Shape of one sample when images are given flattened, e.g. (1, 28, 28).
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected fraction of outliers, which sets ``offset_``.  ``"auto"``
        flags 10 % of the training data.
    device : "auto", "cpu", "cuda" or torch.device, default="auto"
        Where to train and score.
    random_state : int, RandomState instance or None, default=None
        Seed of the weights, batches, negatives and interpolations.
    verbose : int, default=0
        0: silent; 1: a progress bar with the loss; 2: also one line per
        epoch with the losses, learning rate and duration.
    validation_fraction : float in (0, 1), default=None
        Fraction of the training data held out; its validation loss is the
        critic's estimate of the mirrored Wasserstein distance,
        ``mean(D([x, x]) - D([x, G(E(x))]))`` over the held-out rows not
        labeled -1.
    n_iter_no_change : int, default=None
        Stop after that many epochs without improvement of the validation
        loss and keep the best epoch's networks (needs ``validation_fraction``).
    callbacks : list of Callback, default=None
        Hooks into every training loop of ``fit``
        (:class:`skdeepad.callbacks.Callback`, used as given); a fit with
        callbacks is not stacked.

    Attributes
    ----------
    encoder_, generator_, critic_ : torch.nn.Module
        The trained networks.
    latent_dim_ : int
        Code size of the encoder.
    hidden_layer_sizes_ : tuple of int or None
        MLP sizes used (None for images).
    r_mean_, r_std_ : float
        Mean and standard deviation of R over the training rows not labeled
        -1 (the Gaussian of the A-score).
    history_ : list of dict
        Per epoch: ``train_loss`` (encoder/generator loss), ``critic_loss``,
        ``wasserstein`` (mean ``D(real) - D(fake)`` over normal rows),
        ``code_norm`` (mean ``||E(x)||`` of normal rows), ``negatives`` (used
        in the epoch), ``lr``, ``dur`` and ``valid_loss`` when validating.
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
    AutoEncoder : Pixel reconstruction error.
    DeepSAD : Semi-supervised one-class detector.

    Notes
    -----
    **Labels.**  ``y == -1`` rows are real anomalies: they take the place of
    the synthetic negatives (the paper's semi-supervised case; no synthetic
    negatives are drawn then) and are left out of the Gaussian of the
    A-score.  ``+1`` and ``0`` are used alike as normal data.

    **Score.**  ``score_samples`` returns ``log A(x)``, the log density of
    ``N(r_mean_, r_std_^2)`` at ``R(x)``: higher means more normal, as in
    the paper (lower A = more anomalous), and the log cannot underflow far
    from the data.  :meth:`r_score` returns R, the score of the paper's
    "w/o new anomaly scoring" ablation (higher = more anomalous).  The
    networks score in evaluation mode (BatchNorm statistics frozen).

    **Where the paper and the authors' code differ** (``variant="paper"``,
    the default, follows the paper in the first four; ``variant="code"``
    follows the code in all four):

    - Interpolation weights: ``alpha_i ~ U[0, 0.5]`` normalised by their
      sum (paper) or not, the last weight being one minus the others
      (code; :func:`simplex_weights`).  The interpolant is contrasted
      against each of its k sources, as in the code.
    - Interpolation gradient: reaches E and G (the paper's min-max) or not
      (code: only the critic learns from interpolants).
    - Atypical Selection: an annulus at sqrt(d) (paper) or a radial
      rescaling of real codes (code; :func:`atypical_latents`).  As in the
      code, negatives *replace* ``neg_fraction`` of the batch from epoch
      ``neg_start_epoch`` on, and the negative term compares ``[x_neg,
      x_neg]`` with ``[x_neg, G(E(x_neg))]`` for ``x_neg = G(z_neg)``
      generated in evaluation mode.
    - Gradient penalty norm: per sample (standard WGAN-GP) or over the
      channel axis only, per pixel (code; :func:`gradient_penalty`).
      Spectral normalisation and the penalty are both used, as in the code.
    - Optimisers: the code's Adam betas (E: 0.5, G and D: 0) and schedule,
      whatever the variant.
      One optimizer holds the three networks as parameter groups; each
      step only moves the networks that received gradients, which is the
      same as the code's separate optimizers.
    - The reconstructions of a batch are computed once before its
      ``n_critic`` critic steps (E and G do not change during them); the
      code recomputes them, which only updates BatchNorm running averages
      more often.  Every sample is used every epoch (the code drops the last
      partial batch).
    - The paper's model selection uses validation AUROC on labeled
      anomalies; here ``validation_fraction`` monitors an unsupervised loss
      only, and without it the last epoch is kept.
    - MNIST-sized and other images below 32x32 are padded to 32x32 inside
      the encoder and critic (the paper's MNIST networks are in its missing
      appendix; an assumption).
    - The critic's features f are sum-pooled over the image (the code's
      choice), so R grows with the image area; the A-score is unaffected.
    - The command in the authors' README trains the semi-supervised variant
      (real anomalies, no synthetic negatives, no interpolation); the
      defaults here are the paper's unsupervised setting with both
      regularisers.

    References
    ----------
    .. [1] Somepalli, G., Wu, Y., Balaji, Y., Vinzamuri, B., Feizi, S.
       "Unsupervised Anomaly Detection with Adversarial Mirrored
       AutoEncoders." UAI 2021 (arXiv:2003.10713).
    .. [2] Gulrajani, I., et al. "Improved Training of Wasserstein GANs."
       NeurIPS 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import AMA
    >>> X = np.random.RandomState(0).randn(200, 4)
    >>> det = AMA(epochs=3, n_critic=1, batch_size=50, random_state=0).fit(X)
    >>> det.score_samples(X[:3]).shape
    (3,)
    >>> bool(np.isfinite(det.score_samples([[1e3, -1e3, 1e3, -1e3]])).all())
    True
    """

    _parameter_constraints = {
        **BaseDeepDetector._parameter_constraints,
        "latent_dim": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
        "network": [dict, None],
        "n_critic": [Interval(numbers.Integral, 1, None, closed="left")],
        "gp_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_neg": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_reg": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_inter": [Interval(numbers.Real, 0, None, closed="left")],
        "variant": [StrOptions({"paper", "code"})],
        "negatives": [StrOptions({"inward", "outward"}), callable, None],
        "neg_fraction": [Interval(numbers.Real, 0, 1, closed="both")],
        "neg_start_epoch": [Interval(numbers.Integral, 0, None, closed="left")],
        "mirrored": ["boolean"],
    }

    def __init__(
        self,
        *,
        latent_dim="auto",
        hidden_layer_sizes="auto",
        network=None,
        n_critic=5,
        gp_weight=10.0,
        lambda_neg=1.0,
        lambda_reg=1.0,
        lambda_inter=0.2,
        variant="paper",
        negatives="inward",
        neg_fraction=0.1,
        neg_start_epoch=11,
        mirrored=True,
        epochs=100,
        batch_size=256,
        lr=3e-4,
        lr_milestones=(30, 60, 90),
        weight_decay=0.0,
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
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.network = network
        self.n_critic = n_critic
        self.gp_weight = gp_weight
        self.lambda_neg = lambda_neg
        self.lambda_reg = lambda_reg
        self.lambda_inter = lambda_inter
        self.variant = variant
        self.negatives = negatives
        self.neg_fraction = neg_fraction
        self.neg_start_epoch = neg_start_epoch
        self.mirrored = mirrored
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
        unknown = sorted(set(self.network or {}) - set(_NETWORKS))
        if unknown:
            raise ValueError(
                f"network has the keys {unknown}; AMA's networks are "
                f"{', '.join(map(repr, _NETWORKS))}."
            )
        if self._checked_routed("network", make_ama_networks, _BUILDER_OWN) and all(
                (self.network or {}).get(key) is not None for key in _NETWORKS):
            raise ValueError(
                "network__ arguments configure the default networks, but `network` "
                "gives all three; drop them."
            )

    # ------------------------------------------------------------ networks
    def _pair(self, a, b):
        """Critic input for (a, b): the mirror pair, or b alone without mirroring."""
        return mirror_pairs(a, b) if self.mirrored else b

    def _build_networks(self, X):
        shape = tuple(self.input_shape_)
        image = len(shape) > 1
        if isinstance(self.latent_dim, str):
            latent_dim = 128 if image else default_hidden_layer_sizes(shape[0])[-1]
        else:
            latent_dim = int(self.latent_dim)
        if image:
            sizes = None
        elif isinstance(self.hidden_layer_sizes, str):
            sizes = default_hidden_layer_sizes(shape[0])[:-1]
        else:
            sizes = tuple(int(h) for h in self.hidden_layer_sizes)
        self.hidden_layer_sizes_ = sizes
        lo, hi = float(X.min()), float(X.max())
        # tanh output for data within [-1, 1] (the code scales pixels so);
        # tabular data get a linear output unless they fit that range too.
        activation = "tanh" if lo >= -1 and hi <= 1 else "identity"
        critic_shape = ((2 if self.mirrored else 1) * shape[0], *shape[1:])
        users = [(self.network or {}).get(key) for key in _NETWORKS]
        defaults = (None, None, None)
        if None in users:
            defaults = make_ama_networks(
                shape, latent_dim, critic_channels=2 if self.mirrored else 1,
                hidden_layer_sizes=sizes,
                **{"pad_value": lo, "output_activation": activation,
                   **self._routed("network")})
        nets = []
        for user, default, args in zip(
                users, defaults, ((shape, latent_dim), (shape, latent_dim), (critic_shape,))):
            if user is None:
                nets.append(default.to(self.device_))
            elif isinstance(user, torch.nn.Module):
                nets.append(user_network(user, shape, self.device_))
            else:
                nets.append(user_network(lambda _s, a=args, f=user: f(*a), shape, self.device_))
        if not hasattr(nets[2], "features"):
            raise TypeError(
                "The critic must have a `features(pair)` method returning the "
                "penultimate representation used by the R-score (Eq. 5); "
                f"got {type(nets[2]).__name__}."
            )
        return nets

    def _param_groups(self, encoder, generator, critic):
        """One parameter group per network, with the code's betas for Adam(W).

        ``optimizer__betas`` replaces the per-network betas by one pair.
        """
        adam = (self._optimizer_class() in (torch.optim.Adam, torch.optim.AdamW)
                and "betas" not in self._routed("optimizer"))
        groups = []
        for name, net in (("encoder", encoder), ("generator", generator), ("critic", critic)):
            group = {"params": [p for p in net.parameters() if p.requires_grad]}
            if adam:
                group["betas"] = _BETAS[name]
            groups.append(group)
        return groups

    # -------------------------------------------------------------- fitting
    def _fit(self, X, y, valid):
        E, G, D = self.encoder_, self.generator_, self.critic_ = self._build_networks(X)
        with torch.no_grad():
            E.eval()
            self.latent_dim_ = int(E(X[:2]).shape[1])
        real_negatives = bool((y == -1).any())
        totals = {}

        def valid_loss(x, y_valid):
            normal = (y_valid != -1).to(x.dtype)
            x_hat = G(E(x))
            gap = D(self._pair(x, x)) - D(self._pair(x, x_hat))
            return (gap * normal).sum() / normal.sum().clamp_min(1)

        def on_epoch_end(epoch, record):
            values = {k: v.item() for k, v in totals.items()}
            n_batches = values.pop("batches", 1)
            for key in ("critic_loss", "wasserstein", "code_norm"):
                record[key] = values.get(key, 0.0) / max(n_batches, 1)
            record["negatives"] = int(values.get("negatives", 0))
            totals.clear()

        step = self._make_step(E, G, D, real_negatives, totals)
        self.history_ = self._train(valid_loss, [E, G, D], (X, y), valid=valid, step=step,
                                    params=self._param_groups(E, G, D),
                                    on_epoch_end=on_epoch_end)
        r = self._map_batches(self._r_batch, X[y != -1]).double()
        self.r_mean_ = float(r.mean())
        # MLE standard deviation (scipy.stats.norm.fit), kept away from 0 so
        # the log density stays finite when every training R is equal.
        self.r_std_ = max(float(r.std(correction=0)), 1e-12 * (abs(self.r_mean_) + 1.0))

    def _negative_sampler(self):
        """``codes -> z_neg`` of Atypical Selection, or None for no synthetic negatives."""
        if self.negatives is None or callable(self.negatives):
            return self.negatives
        method = "annulus" if self.variant == "paper" else "radial_scale"
        return functools.partial(atypical_latents, method=method, direction=self.negatives)

    def _make_step(self, E, G, D, real_negatives, totals):
        """The train step of one iteration: negatives, n_critic D steps, one E+G step."""
        lambda_neg, k = float(self.lambda_neg), SIMPLEX_SIZE
        paper = self.variant == "paper"
        weights_kind, gp_norm = ("normalized", "sample") if paper else ("code", "channel")
        draw_latents = self._negative_sampler()
        synthetic = draw_latents is not None and not real_negatives

        def add(key, value):
            totals[key] = totals.get(key, 0) + value.detach()

        def interpolate(codes, normal):
            """Codes of simplex interpolants of the normal rows, and their k sources."""
            idx = normal.nonzero().squeeze(1)
            n = len(idx)
            sources = torch.stack([idx] + [idx[torch.randperm(n, device=idx.device)]
                                           for _ in range(k - 1)])
            w = simplex_weights(n, k, weights_kind, device=codes.device)
            z = torch.einsum("nk,knd->nd", w, codes[sources])
            return z, sources

        def make(optimizer):
            def step(batch, epoch):
                x, labels = batch
                x = x.clone()
                negative = labels == -1
                if synthetic and epoch >= self.neg_start_epoch and self.neg_fraction > 0:
                    n_neg = int(self.neg_fraction * len(x))
                    if n_neg:  # Atypical Selection, generated in evaluation mode
                        pos = torch.randint(len(x), (n_neg,), device=x.device)
                        E.eval(), G.eval()
                        with torch.no_grad():
                            codes = E(x[pos])
                            z = draw_latents(codes)
                            if tuple(z.shape) != tuple(codes.shape):
                                raise ValueError(
                                    f"negatives returned latents of shape {tuple(z.shape)} "
                                    f"for codes of shape {tuple(codes.shape)}; it must "
                                    "return one latent per code.")
                            x[pos] = G(z).to(x.dtype)
                        E.train(), G.train()
                        negative = negative.clone()
                        negative[pos] = True
                normal = ~negative
                weights = torch.where(negative, -lambda_neg, 1.0).to(x.dtype)
                use_inter = self.lambda_inter > 0 and int(normal.sum()) > 1
                real = self._pair(x, x)

                # ---- critic: n_critic steps on the same batch (Eq. 2, max over D)
                with torch.no_grad():
                    codes = E(x)
                    x_hat = G(codes)
                fake = self._pair(x, x_hat)
                for _ in range(self.n_critic):
                    optimizer.zero_grad(set_to_none=True)
                    d_real, d_fake = D(real), D(fake)
                    loss_d = critic_loss(d_real, d_fake, weights)
                    if self.gp_weight > 0:
                        loss_d = loss_d + self.gp_weight * gradient_penalty(
                            D, real, fake, gp_norm)
                    if use_inter:
                        z_int, src = interpolate(codes, normal)
                        with torch.no_grad():
                            x_int = G(z_int)
                        # D([x_j, x_j]) of a source row is d_real at that row.
                        loss_d = loss_d + self.lambda_inter * torch.stack([
                            critic_loss(d_real[s], D(self._pair(x[s], x_int)), 1.0)
                            for s in src]).mean()
                    loss_d.backward()
                    optimizer.step()  # only D has gradients
                add("critic_loss", loss_d)
                add("wasserstein", ((d_real - d_fake) * normal).sum() / normal.sum().clamp_min(1))

                # ---- encoder + generator: one step (Eq. 2, min over E and G)
                optimizer.zero_grad(set_to_none=True)
                D.requires_grad_(False)
                codes = E(x)
                loss_g = autoencoder_loss(D(self._pair(x, G(codes))), weights, codes, normal,
                                          self.lambda_reg)
                if use_inter and paper:  # the code detaches the interpolants here
                    z_int, src = interpolate(codes, normal)
                    x_int = G(z_int)
                    loss_g = loss_g - self.lambda_inter * torch.stack([
                        D(self._pair(x[s], x_int)).mean() for s in src]).mean()
                loss_g.backward()
                D.requires_grad_(True)
                optimizer.step()  # only E and G have gradients
                add("code_norm", code_norm(codes[normal]).mean() if bool(normal.any())
                    else codes.sum() * 0)
                add("negatives", negative.sum())
                add("batches", torch.ones((), device=x.device))
                return loss_g.detach()

            return step

        return make

    # -------------------------------------------------------------- scoring
    def _r_batch(self, X):
        """R(x) (Eq. 5) of a batch, in the networks' evaluation mode."""
        x_hat = self.generator_(self.encoder_(X))
        f = self.critic_.features
        return r_score(f(self._pair(X, X)), f(self._pair(X, x_hat)))

    def _score_batch(self, X):
        """log A(x): the Gaussian log density of R(x) (higher = more normal)."""
        r = self._r_batch(X).double()
        return gaussian_log_density(r, self.r_mean_, self.r_std_)

    def r_score(self, X):
        """The raw R-score of Eq. 5 (higher = more anomalous).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Samples to score.

        Returns
        -------
        r : ndarray of shape (n_samples,)
            ``||f([x, x]) - f([x, G(E(x))])||_1`` with f the critic's features.
        """
        check_is_fitted(self)
        X = self._to_tensor(self._validate_X(X, reset=False))
        return self._map_batches(self._r_batch, X).double().cpu().numpy()

