"""DROCC, DROCC-OE and DROCC-LF (Goyal et al., ICML 2020).

DROCC trains a classifier ``f`` that labels the training points normal and,
after ``only_ce_epochs`` warm-up epochs, labels as anomalous the hardest
points it can find in a shell around each of them (Algorithm 1):

1. start from ``x + h`` with ``h ~ N(0, I)``;
2. normalised gradient *ascent* on the loss of calling ``x + h`` anomalous,
   i.e. towards the points the network currently calls normal;
3. project ``h`` onto the annulus ``r <= ||h|| <= gamma r``;
4. one gradient step on ``CE(f(x), 1) + lamda * CE(f(x + h), 0)``.

Known anomalies (``y == -1``) join the cross-entropy term with label 0: that
is DROCC-OE (Section 4).  DROCC-LF (Algorithm 2) replaces the Euclidean
annulus by a Mahalanobis one whose per-coordinate weights are the gradient
magnitudes ``|df/dx_j|``, and the projection by the one-dimensional search
of Proposition 1.  The score is the logit ``f(x)`` (higher = more normal).
"""

import numbers
import warnings
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions

from .base import BaseDeepDetector, caller_stacklevel
from .networks._batchnorm import batch_norm_momentum
from .networks._drocc_nets import make_drocc_network

__all__ = [
    "DROCC",
    "DROCCLF",
    "adversarial_search",
    "drocc_loss",
    "gradient_sigma",
    "mahalanobis_norm",
    "project_annulus",
    "project_mahalanobis",
]

#: Ascent steps between two projections (the reference trainers: 10 for
#: DROCC, 5 for DROCC-LF; Algorithm 1 projects after every step).  The last
#: step is always followed by a projection, so the negatives always lie in
#: the set N_i(r) whatever ``ascent_num_steps`` is.
PROJECT_EVERY = 10
LF_PROJECT_EVERY = 5

#: Guard of every per-sample normalisation (the reference code has none and
#: returns NaN for a zero gradient).
_EPS = 1e-12

#: Grid of the DROCC-LF projection: points per grid and rounds of refinement
#: (each round searches the bracket the previous one found).
_GRID_POINTS = 16
_GRID_ROUNDS = 4

#: Learning-rate schedule of the reference examples, as fractions of the
#: adversarial epochs after which the rate is divided by 10, by kind of input.
_SCHEDULES = {1: (0.3, 0.6, 0.9), 2: (0.5,), 3: (0.4, 0.8)}


def _per_sample(values, like):
    """View a (B,) tensor so that it broadcasts over the rows of ``like``."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def drocc_loss(logits, targets, adv_logits=None, lamda=1.0):
    """The DROCC objective of one batch (Eq. 1, Algorithm 1's ``l^itr``).

    ``CE(f(x), y)`` averaged over the batch (``y = 1`` normal, ``0`` a known
    negative: DROCC-OE's extra term) plus ``lamda`` times the mean
    ``CE(f(x + h), 0)`` over the generated negatives.  The paper's
    ``||theta||^2`` term is the optimizer's ``weight_decay``.  Means are
    over the last axis, so a ``(K, B)`` stack of batches (with ``lamda`` of
    shape ``(K,)``) gives one value per member.
    """
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(dim=-1)
    if adv_logits is None:
        return loss
    return loss + lamda * F.binary_cross_entropy_with_logits(
        adv_logits, torch.zeros_like(adv_logits), reduction="none").mean(dim=-1)


def project_annulus(h, radius, gamma):
    """Radial projection of each ``h_i`` onto ``radius <= ||h_i||_2 <= gamma * radius``.

    The closed form of Section 3: ``h * clamp(||h||, r, gamma r) / ||h||``,
    norms taken over all non-batch dimensions.  ``radius`` is a number or
    one radius per sample (a tensor of shape ``(B,)``).
    """
    norm = h.flatten(1).norm(dim=1)
    radius = torch.as_tensor(radius, dtype=norm.dtype, device=norm.device)
    target = torch.minimum(torch.maximum(norm, radius), gamma * radius)
    return h * _per_sample(target / norm.clamp_min(_EPS), h)


def mahalanobis_norm(h, sigma):
    """``sqrt(sum_j sigma_j h_j^2)`` per sample (the reference code's DROCC-LF distance)."""
    return (sigma * h**2).flatten(1).sum(dim=1).sqrt()


def gradient_sigma(network, x):
    """DROCC-LF's coordinate weights: ``|df(x)/dx_j|``, normalised to mean 1 per sample.

    Section 4 defines ``sigma_j = |df(x)/dx_j|``, the influence of
    coordinate ``j`` on the output.  As in the reference code, each sample's
    weights are divided by their mean so that the radius keeps its scale; a
    sample whose gradient vanishes gets all weights 1 (the Euclidean norm).
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(network(x).sum(), x)
    sigma = grad.abs()
    mean = sigma.flatten(1).mean(dim=1)
    ok = _per_sample(mean > 0, sigma)
    return torch.where(ok, sigma / _per_sample(mean.clamp_min(_EPS), sigma), 1.0).detach()


def _bracket(lo, hi, below):
    """Per row, a narrow bracket ``[lo, hi]`` around where ``below`` turns false.

    ``below`` maps a (B, K) grid to a (B, K) mask that must be monotone:
    true up to some ``t*``, false after.  Each of ``_GRID_ROUNDS`` rounds
    lays ``_GRID_POINTS`` points over the current bracket and keeps the cell
    in which the mask turns false, so ``lo`` is the largest grid point found
    with ``below`` true and ``hi`` the next one.  Where the mask is true
    everywhere both end at the upper end, where it is false everywhere at the
    lower end.
    """
    steps = torch.linspace(0, 1, _GRID_POINTS, device=lo.device, dtype=lo.dtype)
    for _ in range(_GRID_ROUNDS):
        grid = lo[:, None] + (hi - lo)[:, None] * steps
        last = (below(grid).sum(dim=1) - 1).clamp(0, _GRID_POINTS - 1)
        lo = grid.gather(1, last[:, None]).squeeze(1)
        hi = grid.gather(1, (last + 1).clamp(max=_GRID_POINTS - 1)[:, None]).squeeze(1)
    return lo, hi


def project_mahalanobis(h, sigma, radius, gamma):
    """Project each ``h_i`` onto ``r <= ||h_i||_sigma <= gamma r`` (Proposition 1).

    The Euclidean-nearest point of the Mahalanobis annulus has the form
    ``h_j / (1 + lam sigma_j)`` for a scalar ``lam`` per sample, so the
    projection is a one-dimensional search:

    - too close (``||h|| < r``): ``lam`` in ``(-1/max_j sigma_j, 0)``; the
      distance grows and the displacement grows as ``lam`` decreases, so
      the best ``lam`` is the largest with ``||h'|| >= r`` (the search
      starts from the bracket in which the coordinate of largest sigma
      alone reaches ``r``);
    - too far (``||h|| > gamma r``): ``lam = 1 / nu`` with ``nu`` in
      ``(0, nu_max]``, ``nu_max = a / (1 - a) max_j sigma_j`` and
      ``a = gamma r / ||h||`` (the reference code's bracket); the best
      ``nu`` is the largest with ``||h'|| <= gamma r``;
    - inside: unchanged.

    Both searches are grid searches over the whole batch at once, refined
    within the bracket found (:func:`_bracket`).  ``radius`` is a number or
    one radius per sample.
    """
    hf, sf = h.flatten(1), sigma.flatten(1)
    weighted = sf * hf**2                                   # sigma_j h_j^2
    dist = weighted.sum(dim=1).sqrt()
    radius = torch.as_tensor(radius, dtype=dist.dtype, device=dist.device).expand_as(dist)
    outer_all = gamma * radius                              # gamma: a number or per sample
    s_max = sf.max(dim=1).values.clamp_min(_EPS)
    close, far = dist < radius, dist > outer_all
    factor = torch.ones_like(hf)

    if bool(close.any()):
        w, s, r = weighted[close], sf[close], radius[close]

        def too_close(t):                                   # (B, K) grid of t = -lam
            d2 = (w[:, None] / (1 - t[..., None] * s[:, None]) ** 2).sum(-1)
            return d2 < r[:, None] ** 2

        # The smallest t = -lam in [0, 1 / max sigma) that reaches r.  The
        # coordinate of largest sigma alone reaches r at t_hi, an upper end.
        sm = s_max[close]
        w_top = w.gather(1, s.argmax(dim=1, keepdim=True)).squeeze(1)
        t_hi = torch.where(w_top > 0, (1 - w_top.sqrt() / r).clamp_min(0), 1 - 1e-6) / sm
        _, t = _bracket(torch.zeros_like(sm), t_hi, too_close)
        factor[close] = 1 / (1 - t[:, None] * s)

    if bool(far.any()):
        w, s, outer = weighted[far], sf[far], outer_all[far]
        a = outer / dist[far]
        nu_max = a / (1 - a) * s_max[far]

        def near_enough(nu):                                # (B, K) grid of nu
            d2 = (w[:, None] * (nu[..., None] / (nu[..., None] + s[:, None])) ** 2).sum(-1)
            return d2 <= outer[:, None] ** 2

        nu, _ = _bracket(torch.zeros_like(nu_max), nu_max, near_enough)
        # Coordinates with sigma_j = 0 do not count in the distance: keep them.
        factor[far] = torch.where(s > 0, nu[:, None] / (nu[:, None] + s), 1.0)
    return (hf * factor).view_as(h)


def _normalised(grad):
    """Each sample's gradient divided by its L2 norm (all non-batch dimensions)."""
    return grad / _per_sample(grad.flatten(1).norm(dim=1).clamp_min(_EPS), grad)


def adversarial_search(network, x, project, *, step_size, n_steps, project_every, start=None):
    """Algorithm 1's adversarial search, for the whole batch at once.

    Starting from ``h ~ N(0, I)``, ``n_steps`` normalised gradient-ascent
    steps of size ``step_size`` on ``CE(f(x + h), 0)`` (the loss of calling
    ``x + h`` anomalous; its per-sample gradient is a positive multiple of
    ``df/dh``, so the normalised step is taken along ``df/dh``), with
    ``h <- project(h)`` every ``project_every``
    steps and after the last one.  ``step_size`` is a number or one step
    length per sample.  Only ``h`` receives gradients; the network's
    parameters are untouched.  ``start`` replaces the draw of ``h``'s
    starting point.  Returns the negatives ``x + h`` (detached).
    """
    if torch.is_tensor(step_size):
        step_size = _per_sample(step_size, x)
    h = torch.randn_like(x) if start is None else start
    with torch.enable_grad():
        for i in range(n_steps):
            h.requires_grad_(True)
            # d CE(f, 0) / dh = sigmoid(f) * df/dh, a positive factor per sample
            # that the normalisation removes: ascend along df/dh directly (and
            # keep moving where sigmoid(f) underflows to 0 in float32).
            (grad,) = torch.autograd.grad(network(x + h).sum(), h)
            h = h.detach() + step_size * _normalised(grad)
            if (i + 1) % project_every == 0:
                h = project(h)
    return (x + project(h)).detach()


class DROCC(BaseDeepDetector):
    """Deep Robust One-Class Classification (Goyal et al., ICML 2020).

    A classifier network ``f`` learns to call the training data normal and
    the points at distance between ``radius`` and ``gamma * radius`` from
    them anomalous, where those points are found adversarially: for each
    point ``x`` of a batch, ``h ~ N(0, I)`` is moved by ``ascent_num_steps``
    normalised gradient-ascent steps towards what ``f`` currently calls
    normal and projected back onto the annulus ``radius <= ||h|| <= gamma *
    radius`` (Algorithm 1).  The loss is ``CE(f(x), 1) + lamda * CE(f(x + h),
    0)``; the first ``only_ce_epochs`` epochs train on ``CE(f(x), 1)`` alone.
    ``score_samples`` is the logit ``f(x)`` (higher = more normal).

    Known anomalies (``y == -1``) enter the cross-entropy with label 0 and
    generate no negatives: this is DROCC-OE of the paper's Section 4.

    Read more in the :ref:`User Guide <conventions>`.

    Parameters
    ----------
    radius : float > 0, default=2.0
        The radius ``r`` of the annulus the negatives are drawn from, in the
        units of the (standardised) input.  The paper fixes 2 "unless
        specified otherwise" and tunes it per data set (Tables 10-14: 2.5 to
        40); it is DROCC's main hyperparameter.
    gamma : float >= 1, default=2.0
        Outer radius as a multiple of ``radius`` ("we typically set gamma =
        2"); ``gamma=1`` puts the negatives exactly on the sphere of radius
        ``radius`` (the CIFAR-10 setting).
    lamda : float > 0, default=1.0
        Weight of the negatives' loss (the paper's mu; spelt as in the
        reference code, ``lambda`` being a Python keyword).
    ascent_step_size : "auto" or float > 0, default="auto"
        Length of each normalised ascent step.  ``"auto"``: a tenth of the
        radius of the annulus being searched, so that the 50 steps can cross
        it (see Notes).  A number is an absolute length, as in the paper
        (Table 10: 0.01; the reference README: 0.001).
    ascent_num_steps : int >= 0, default=50
        Ascent steps per batch (the reference trainer's 50).
    only_ce_epochs : int >= 0, default=0
        Warm-up epochs trained on the cross-entropy alone (Algorithm 1's
        ``n_0``, in epochs as in the reference code).  0 as in the
        reference CIFAR-10 runs; its tabular examples use 50 (see Notes).
    far_scale : float >= 1, default=16.0
        Half of each batch's negatives are searched in the annulus scaled
        by a factor drawn log-uniformly from ``[1, far_scale]`` (radii from
        ``radius`` to ``far_scale * gamma * radius``), so that the network
        also learns to call points far from the data anomalous.  1: every
        negative in the paper's annulus.
    hidden_layer_sizes : "auto" or tuple of int, default="auto"
        Hidden units of the tabular MLP (``"auto"``: one layer of 128,
        Appendix E.1), or ``(hidden_size,)`` of the LSTM for sequences.
    network : torch.nn.Module or callable, default=None
        A custom classifier mapping a batch of samples to one logit each
        (shape ``(n,)`` or ``(n, 1)``), or a callable building it from the
        input shape.  ``None``: the paper's network for the input's shape:
        an MLP for ``(d,)``, the LeNet-type CNN plus a linear layer for
        ``(1, 28, 28)`` and ``(3, 32, 32)`` images (E.2), a single-layer
        LSTM with a linear layer on its last hidden state for ``(T, d)``
        sequences (E.4).
    epochs : int, default=100
        Training epochs, warm-up included.
    batch_size : int, default=128
        Mini-batch size; every sample is used in every epoch.
    lr : float, default=1e-3
        Learning rate.
    lr_milestones : "auto", tuple of int or None, default="auto"
        Epochs after which the learning rate is divided by 10.  ``"auto"``:
        the reference examples' schedules over the adversarial epochs
        ``D = epochs - only_ce_epochs``: after 0.3, 0.6 and 0.9 of them for
        tabular data, 0.4 and 0.8 for images, 0.5 for sequences (resolved
        in ``lr_milestones_``).  ``None``: constant.
    weight_decay : float, default=0.0
        L2 penalty of the optimizer (the paper's ``lambda ||theta||^2``; the
        reference code uses none).
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or Optimizer class, default="adam"
        Optimizer.  Its own arguments are passed with the prefix
        ``optimizer__``, e.g. ``optimizer__momentum=0.9`` with ``"sgd"``
        (see :ref:`routing`).
    input_shape : tuple of int, default=None
        Shape of one sample when images or sequences are given flattened:
        ``(C, H, W)`` for images, ``(T, d)`` for sequences.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected fraction of outliers, which sets ``offset_``.  ``"auto"``
        flags 10 % of the training data, as the other deep detectors do.  The
        classifier's own boundary (logit 0) is not used: the negatives it
        was trained against lie in a thin shell around every training point,
        so the training points' logits often end below 0.
    device : "auto", "cpu", "cuda" or torch.device, default="auto"
        Where to train and score.
    random_state : int, RandomState instance or None, default=None
        Seed of the weights, batch order and the ascent's initial noise.
    verbose : int, default=0
        0: silent; 1: a progress bar with the loss; 2: also one line per
        epoch with the losses, learning rate and duration.
    validation_fraction : float in (0, 1), default=None
        Fraction of the training data held out to monitor the validation
        loss: the full objective, with freshly generated negatives.
    n_iter_no_change : int, default=None
        Early stopping patience on that loss (needs
        ``validation_fraction``).  The loss is noisy (random negatives) and
        rises when the adversarial phase starts; leave it off unless
        ``only_ce_epochs=0``.
    callbacks : list of Callback, default=None
        Hooks into every training loop of ``fit``
        (:class:`skdeepad.callbacks.Callback`, used as given); a fit with
        callbacks is not stacked.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained classifier ``f``.
    hidden_layer_sizes_ : tuple of int or None
        MLP or LSTM sizes used (None for the CNN or a custom network).
    lr_milestones_ : tuple of int
        The learning-rate milestones used.
    history_ : list of dict
        Per-epoch loss, learning rate and duration.
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
    DROCCLF : DROCC with a Mahalanobis annulus learned from the gradients.
    DeepSVDD : The hypersphere method whose collapse DROCC avoids.
    DeepSAD : Another way to use labeled anomalies.

    Notes
    -----
    Labels: ``y == +1`` (known normal) and ``y == 0`` (unlabeled) are both
    treated as normal; ``y == -1`` marks known negatives (DROCC-OE).

    Where the paper (Algorithm 1) and the authors' reference trainer
    (microsoft/EdgeML) differ, this implementation does the following:

    - initial perturbation ``h ~ N(0, I)``, not scaled by the radius (both
      the paper and the code);
    - projection onto the annulus every 10 ascent steps (code; the paper's
      box projects after every step) and always after the last step, so
      every negative lies in the annulus;
    - the ascent step is ``ascent_step_size * g / ||g||`` (both), with the
      gradient norm guarded against zero (the code divides by zero);
    - the score is the logit (code);
    - no weight decay by default (code; the paper's objective has one, with
      an unreported weight): set ``weight_decay``;
    - the learning-rate schedule of the reference examples (``"auto"``);
    - BatchNorm (the LeNet CNNs) normalises the adversarial forward passes
      with their batch statistics, as the code does, but they are not folded
      into the running statistics used at test time (the code lets the
      generated negatives leak into them);
    - the reference code picks the best epoch on the test set; here the
      final epoch is kept (or the best validation epoch with early
      stopping).

    **Defaults that depart from the paper's configuration, and why.**  The
    paper's tabular configuration (``only_ce_epochs=50,
    ascent_step_size=0.01, far_scale=1``, available as those parameters)
    ranks points far from the training data as *more* normal than the
    training data on many sets outside the paper (mean AUC 42.0 % on 14
    ADBench sets where IsolationForest reaches 85.3 %;
    ``benchmarks/results/drocc_adbench.md``).  Three causes, each measured
    there:

    - the cross-entropy-only warm-up, with nothing but positive labels,
      makes the logit grow with the distance from the data in every
      direction, and the adversarial epochs that follow (at a learning
      rate the schedule soon divides by 10) do not undo it: no warm-up
      (``only_ce_epochs=0``);
    - with a normalised step of 0.01 and 50 steps the search moves a point
      by at most 0.5, so the negatives stay where the ``N(0, I)`` start
      put them and hardly search: the step is a tenth of the radius
      (``ascent_step_size="auto"``);
    - negatives only in the annulus ``[r, 2r]`` leave the network free
      beyond it, where a ReLU network extrapolates linearly: half of the
      negatives come from annuli up to ``far_scale`` times larger.

    With all three, DROCC stands level with IsolationForest on those sets
    (84.7 %), reproduces the paper's Table 2 F1 within its noise, and
    points far outside the data score below the training data.

    References
    ----------
    .. [1] Goyal, S., Raghunathan, A., Jain, M., Simhadri, H. V., Jain, P.
       "DROCC: Deep Robust One-Class Classification." ICML 2020.

    Examples
    --------
    The radius is measured in the units of the input, so standardise the
    features first (the paper's setting):

    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skdeepad import DROCC
    >>> rng = np.random.RandomState(0)
    >>> X = rng.rand(200, 2) * [100, 1]           # features on very different scales
    >>> det = make_pipeline(StandardScaler(), DROCC(epochs=20, random_state=0)).fit(X)
    >>> det.predict([[50.0, 0.5], [400.0, 3.0]])
    array([ 1, -1])
    """

    _parameter_constraints = {
        **BaseDeepDetector._parameter_constraints,
        "radius": [Interval(numbers.Real, 0, None, closed="neither")],
        "gamma": [Interval(numbers.Real, 1, None, closed="left")],
        "lamda": [Interval(numbers.Real, 0, None, closed="neither")],
        "ascent_step_size": [StrOptions({"auto"}),
                             Interval(numbers.Real, 0, None, closed="neither")],
        "ascent_num_steps": [Interval(numbers.Integral, 0, None, closed="left")],
        "only_ce_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "far_scale": [Interval(numbers.Real, 1, None, closed="left")],
        "lr_milestones": [StrOptions({"auto"}), "array-like", None],
    }

    #: Ascent steps between projections.
    _project_every = PROJECT_EVERY

    def __init__(
        self,
        *,
        radius=2.0,
        gamma=2.0,
        lamda=1.0,
        ascent_step_size="auto",
        ascent_num_steps=50,
        only_ce_epochs=0,
        far_scale=16.0,
        hidden_layer_sizes="auto",
        network=None,
        epochs=100,
        batch_size=128,
        lr=1e-3,
        lr_milestones="auto",
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
        self.radius = radius
        self.gamma = gamma
        self.lamda = lamda
        self.ascent_step_size = ascent_step_size
        self.ascent_num_steps = ascent_num_steps
        self.only_ce_epochs = only_ce_epochs
        self.far_scale = far_scale
        self.hidden_layer_sizes = hidden_layer_sizes
        self.network = network
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

    # ------------------------------------------------------------- checks
    def _check_params(self):
        super()._check_params()  # skips "auto" lr_milestones, checked by the constraint
        if self.epochs > 0 and self.only_ce_epochs >= self.epochs:
            warnings.warn(
                f"only_ce_epochs={self.only_ce_epochs} >= epochs={self.epochs}: no "
                "adversarial epoch is run, so DROCC is only a classifier trained on "
                "one class. Lower only_ce_epochs or raise epochs.",
                UserWarning,
                stacklevel=3,
            )

    def _resolve_milestones(self):
        if self.lr_milestones is None:
            return ()
        if not isinstance(self.lr_milestones, str):
            return tuple(int(m) for m in self.lr_milestones)
        n_adv = self.epochs - self.only_ce_epochs
        kind = min(len(self.input_shape_), 3)
        # The reference lowers the rate in epoch e once e - only_ce > f * D.
        return tuple(m for f in _SCHEDULES[kind]
                     if 0 < (m := self.only_ce_epochs + int(f * n_adv) + 1) < self.epochs)

    # ---------------------------------------------------------------- fit
    def _warn_if_radius_out_of_scale(self, X):
        """Warn when ``radius`` dwarfs the spread of tabular training data.

        The paper's radii (2.5 to 16 on standardised tables of 6 to 274
        features) are close to ``sqrt(d)`` standard deviations, the typical
        distance between two samples.  A radius several times larger puts
        every negative outside the data's whole extent (e.g. ``radius=2``
        on data in [0, 1]), and the classifier learns nothing about the
        data's neighbourhood.
        """
        if len(self.input_shape_) != 1:
            return  # images and sequences: radii are set per data set
        spread = float(X.std(dim=0).median()) * X.shape[1] ** 0.5
        if self.radius > 3 * spread:
            warnings.warn(
                f"radius={self.radius:g} is {self.radius / spread:.0f} times the typical "
                f"distance between training samples (sqrt(n_features) x median feature "
                f"std = {spread:.3g}): the negatives lie beyond the data's extent. DROCC's "
                "radius is in the units of the input: standardise the features (e.g. "
                "make_pipeline(StandardScaler(), DROCC())) or give a radius on the scale of "
                "your data.",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )

    #: The paper's networks take no options beyond ``hidden_layer_sizes``.
    _routed_prefixes = ("optimizer",)

    #: Parameters every member of one stack shares (they fix the loop and its draws).
    _stack_structure = ("only_ce_epochs", "ascent_num_steps", "far_scale")

    def _stack_refusal(self, y):
        if y is not None and bool(np.any(np.asarray(y) == -1)):
            return ("known negatives (y == -1) leave each member its own number of normal "
                    "rows per batch")
        return None

    def _new_network(self):
        if self.network is not None:
            self.hidden_layer_sizes_ = None
            return self._user_network()
        network, self.hidden_layer_sizes_ = make_drocc_network(
            self.input_shape_, self.hidden_layer_sizes)
        return network.to(self.device_)

    @classmethod
    def _fit_stack(cls, stack):
        """Algorithm 1 (Algorithm 2 for DROCC-LF) for a stack of members."""
        rows = stack.rows(lambda X, y: (X, (y != -1).float()))  # 1 normal, 0 known negative
        for est, (X, normal) in zip(stack.members, rows.members):
            est._warn_if_radius_out_of_scale(X[normal == 1])
        networks = stack.build(lambda est, *_: est._new_network())
        for est in stack.members:
            est.lr_milestones_ = est._resolve_milestones()
        only_ce_epochs = stack.first.only_ce_epochs
        lamda = stack.param(lambda est: est.lamda)[:, 0]

        def loss(net, epoch, x, targets):
            if torch.is_inference_mode_enabled():  # a validation loss: the ascent needs autograd
                with torch.inference_mode(False):
                    return loss(net, epoch, x.clone(), targets.clone()).detach()
            logits = net(x).reshape(targets.shape)
            adv_logits = None
            # Cross-entropy only for the warm-up epochs, then with adversarial negatives.
            if epoch is None or epoch >= only_ce_epochs:
                # Every member has the same normal rows: stacks with known negatives
                # are refused (_stack_refusal), a lone fit has one mask.
                positives = x[:, targets[0] == 1]
                if positives.shape[1]:
                    with batch_norm_momentum(net, 0.0):  # statistics paused
                        negatives = cls._negatives(stack, net, positives)
                        adv_logits = net(negatives).reshape(positives.shape[:2])
            return drocc_loss(logits, targets, adv_logits, lamda)

        histories = stack.train(networks, loss, rows, epochs=stack.first.epochs,
                                desc=stack.label(cls.__name__),
                                milestones=lambda est: est.lr_milestones_)
        for est, network, history in zip(stack.members, networks, histories):
            est.network_, est.history_ = network, history

    @classmethod
    def _negatives(cls, stack, net, x):
        """Adversarial negatives around the normal points ``x`` (``(K, B, ...)``)."""
        K, B = x.shape[:2]
        radius, step = cls._radii_and_steps(stack, B)
        gamma = stack.param(lambda est: est.gamma).expand(K, B).reshape(-1)
        flat = x.flatten(0, 1)  # per-sample functions see K * B samples

        def logit(z):
            return net(z.view_as(x)).reshape(-1)

        start = stack.randn(x.shape[1:]).flatten(0, 1)
        negatives = adversarial_search(
            logit, flat, cls._projection(logit, flat, radius, gamma),
            step_size=step, n_steps=stack.first.ascent_num_steps,
            project_every=cls._project_every, start=start)
        return negatives.view_as(x)

    @staticmethod
    def _projection(logit, x, radius, gamma):
        """``h -> `` its projection onto each sample's annulus."""
        return lambda h: project_annulus(h, radius, gamma)

    @staticmethod
    def _radii_and_steps(stack, B):
        """Per sample (``K * B`` values): the inner radius of its annulus and its ascent step.

        Every second row keeps ``radius``; the others get ``radius * s``
        with ``s`` log-uniform in ``[1, far_scale]`` (rows arrive shuffled).
        The step is ``radius / 10`` per sample for ``ascent_step_size="auto"``.
        """
        radius = stack.param(lambda est: est.radius).expand(stack.K, B).clone()
        if stack.first.far_scale > 1:
            far = stack.param(lambda est: est.far_scale)
            radius[:, 1::2] *= (far ** stack.rand((B,)))[:, 1::2]
        fixed = stack.param(lambda est: np.nan if est.ascent_step_size == "auto"
                            else est.ascent_step_size)
        step = torch.where(fixed.isnan(), radius / 10, fixed)
        return radius.reshape(-1), step.reshape(-1)

    # -------------------------------------------------------------- score
    def _logit(self, x):
        return self.network_(x).reshape(len(x))

    def _score_batch(self, X):
        """The classifier's logit (higher = more normal)."""
        return self._logit(X)


class DROCCLF(DROCC):
    """DROCC-LF: DROCC with a learned Mahalanobis neighbourhood (Algorithm 2).

    For one-class classification with limited negatives (OCLN, Section 4).
    Training is that of :class:`DROCC` (cross-entropy on the normal points
    and on the known negatives ``y == -1``, adversarial negatives around the
    normal points), but the annulus the negatives are drawn from is measured
    in the distance ``||h||_sigma = sqrt(sum_j sigma_j h_j^2)`` with
    ``sigma_j = |df(x)/dx_j|``: coordinates the classifier ignores (noise)
    cost nothing, so the generated negatives must differ from ``x`` in the
    coordinates that matter.  The projection onto that annulus is the
    one-dimensional search of Proposition 1 (:func:`project_mahalanobis`).
    ``score_samples`` is the logit ``f(x)``.

    Parameters
    ----------
    radius, gamma, lamda, ascent_step_size, ascent_num_steps, only_ce_epochs, far_scale
        As in :class:`DROCC`; ``radius`` is now a Mahalanobis radius (the
        weights have mean 1 per sample, so its scale stays comparable).
    hidden_layer_sizes, network, epochs, batch_size, lr, lr_milestones, \
weight_decay, optimizer, input_shape, contamination, device, random_state, \
verbose, validation_fraction, n_iter_no_change, callbacks
        As in :class:`DROCC`.

    Attributes
    ----------
    network_, hidden_layer_sizes_, lr_milestones_, history_, offset_, \
device_, input_shape_, n_features_in_
        As in :class:`DROCC`.

    See Also
    --------
    DROCC : The Euclidean version, and DROCC-OE (DROCC with ``y == -1``).

    Notes
    -----
    ``y == +1`` and ``y == 0`` are treated as normal, ``y == -1`` as known
    negatives.  Choices where the paper and the reference trainer
    (``drocclf_trainer.py``) differ, beyond those listed for :class:`DROCC`:

    - ``sigma`` is recomputed for every batch and every sample with the
      current network (code; the paper: "updated every epoch"), and
      normalised to mean 1 per sample (code);
    - ``sigma`` multiplies the squared coordinates (code); the paper writes
      ``sum_j h_j^2 / sigma_j^2``, which would make the coordinates the
      classifier ignores the most expensive ones, against the method's
      stated intent;
    - ``sigma`` is the gradient of the logit, as the paper defines it (the
      code uses the gradient of ``CE(f(x), 1)``: the same direction up to a
      per-sample factor removed by the normalisation, but zero once
      ``sigmoid(f(x))`` saturates);
    - projection every 5 ascent steps (code) and after the last one;
    - the projection's search over the Lagrange multiplier is a grid search
      refined in the bracket it finds (the paper: grid search; the code: 40
      uniformly random candidates per sample, drawn from an unseeded RNG);
    - the score is the logit (the code uses its sigmoid: the same ranking,
      without float32 saturation ties).

    References
    ----------
    .. [1] Goyal, S., Raghunathan, A., Jain, M., Simhadri, H. V., Jain, P.
       "DROCC: Deep Robust One-Class Classification." ICML 2020, Section 4
       and Appendix A.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import DROCCLF
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.randn(200, 2), rng.randn(20, 2) + 5]
    >>> y = np.r_[np.zeros(200), -np.ones(20)]        # 20 known negatives
    >>> det = DROCCLF(radius=1.0, epochs=6, only_ce_epochs=2, ascent_num_steps=5,
    ...               random_state=0).fit(X, y)
    >>> det.predict([[0.0, 0.0], [5.0, 5.0]])
    array([ 1, -1])
    """

    _project_every = LF_PROJECT_EVERY

    @staticmethod
    def _projection(logit, x, radius, gamma):
        sigma = gradient_sigma(logit, x)
        return lambda h: project_mahalanobis(h, sigma, radius, gamma)
