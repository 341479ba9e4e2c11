"""Student-teacher knowledge distillation for one-class anomaly detection.

Mai, Davies and Griffin (2021), "Brittle Features May Help Anomaly
Detection".  The algorithm, stage by stage:

1. **Teacher.**  A backbone (the cifar10-fast small ResNet for images, an MLP
   for tabular data) is pretrained on an auxiliary task -- none (random
   weights), RotNet, (denoising) autoencoder, classification on auxiliary
   labeled data, or the paper's supervised normal-vs-anomaly "baseline".
2. **Head.**  The task head is removed and a randomly initialised linear
   projection of ``head_dim`` (128) units is put on the final pooling layer;
   teacher and head are frozen.  Its output is h(x).
3. **Student.**  A network of the same architecture with a fresh, independent
   initialisation is trained on the normal training data only to regress
   h(x): the mean squared error, Adam at lr 1e-5 for 20 epochs, no
   augmentation.  Its output is f(x).
4. **Score.**  A(x) = ||h(x) - f(x)||^2 (Eq. 1), higher = more anomalous.

The paper's research diagnostics -- the secondary detectors of Sec. 3.3 /
App. A.3 on the frozen teacher representation (Mahalanobis, full or
diagonal, and the squared distance to the mean), the brittleness of Eq. 2
and the linear-probe accuracy of the "Classification Acc." column -- are
functions of :mod:`skdeepad.inspection` that take a fitted detector.
"""

import copy
import numbers
import os

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d
from torch import nn

from .networks import reconstruction_error
from ._train import batch_slices
from .base import BaseDeepDetector
from .networks import MLP, EncoderDecoder, KDResNet, KDResNetDecoder, MLPDecoder
from .networks._batchnorm import recalibrate_batch_norm
from .utils._labels import check_partial_labels

__all__ = [
    "KDStudentTeacher",
    "distillation_error",
    "distillation_loss",
    "rotation_loss",
]

#: MLP backbone of the tabular extension (the spec's p -> 256 -> 256 -> head).
DEFAULT_MLP_SIZES = (256, 256)

_PRETRAIN_TASKS = {"rotnet", "autoencoder", "denoising", "classification", "supervised"}
_AUX_TASKS = {"classification", "supervised"}


# ---------------------------------------------------------------- losses
def distillation_error(f, h):
    """Eq. 1: ``A(x) = ||h(x) - f(x)||^2`` per sample (higher = more anomalous)."""
    return ((h - f) ** 2).sum(dim=1)


def distillation_loss(f, h):
    """The student's objective: MSE between student and teacher outputs,
    averaged over output dimensions and the batch (Sec. 3.2)."""
    return ((f - h) ** 2).mean()


def rotation_loss(classifier, x):
    """RotNet (Gidaris et al., 2018; App. A.1): every image of the batch is
    rotated by 0, 90, 180 and 270 degrees and the rotation is predicted
    (4-way cross-entropy)."""
    rotated = torch.cat([torch.rot90(x, k, dims=(-2, -1)) for k in range(4)])
    target = torch.arange(4, device=x.device).repeat_interleave(len(x))
    return F.cross_entropy(classifier(rotated), target)


def _autoencoder_loss(autoencoder, x, noise_std):
    """(Denoising) autoencoder, App. A.1: MSE between the reconstruction of
    ``x + N(0, noise_std^2)`` and the clean ``x`` (plain AE: ``noise_std=0``)."""
    noisy = x + noise_std * torch.randn_like(x) if noise_std > 0 else x
    return reconstruction_error(autoencoder(noisy), x).mean()


# --------------------------------------------------------------- helpers
def _build_module(value, name, input_shape, device):
    """A fresh copy of a user module, or the module a callable builds."""
    if isinstance(value, nn.Module):
        module = copy.deepcopy(value)
    else:
        module = value(tuple(input_shape))
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"{name} must be a torch.nn.Module or a callable returning one from the "
                f"input shape; the callable returned {type(module).__name__}."
            )
    return module.to(device)


def _output_dim(module, x, name):
    """Width of ``module``'s output on a 2-sample batch, which must be 2-D."""
    was_training = module.training
    module.eval()
    with torch.no_grad():
        out = module(x[:2])
    module.train(was_training)
    if out.ndim != 2:
        raise ValueError(
            f"{name} must map a batch of samples to a 2-D tensor (n_samples, n_features) "
            f"of pooled features; it returned shape {tuple(out.shape)}."
        )
    return int(out.shape[1])


class KDStudentTeacher(BaseDeepDetector):
    """Knowledge-distillation anomaly detector with a frozen pretrained teacher.

    A student network is trained on normal data to reproduce the output
    h(x) of a frozen teacher, whose representation comes from an auxiliary
    task; on anomalies the student fails to extrapolate, so the squared
    teacher-student distance ``A(x) = ||h(x) - f(x)||^2`` (Eq. 1 of Mai et
    al., 2021) is the anomaly score.  ``score_samples`` returns ``-A(x)``.

    Read more in the :ref:`User Guide <conventions>`.

    Parameters
    ----------
    teacher : "auto", torch.nn.Module or callable, default="auto"
        The teacher's backbone: a module mapping a batch to pooled features
        ``(n_samples, d)`` (the "final pooling layer"), or a callable
        building one from the input shape.  ``"auto"``: the small ResNet of
        cifar10-fast (:class:`~skdeepad.networks.KDResNet`, widths
        ``resnet_widths``) for images ``(channels, H, W)``, an MLP
        ``p -> hidden_layer_sizes`` with a final leaky ReLU for flat
        samples ``(n_samples, n_features)``; samples of other shapes, such
        as ``(n, 28, 28)`` images without a channel axis, are a
        ``ValueError`` (add the channel axis, or flatten them for the MLP).
        A module is copied, never trained or modified in place; it is
        taken as already pretrained unless ``teacher_pretrain`` says otherwise.
    teacher_weights : str, path-like or dict, default=None
        Saved weights (a ``state_dict``) of the backbone, loaded with
        ``torch.load(weights_only=True)`` (which cannot run code) before any
        pretraining, e.g. ``torch.save(det.teacher_[0].state_dict(), path)``
        from an earlier fit.
    teacher_pretrain : {"rotnet", "autoencoder", "denoising", "classification", \
"supervised"} or None, default=None
        Auxiliary task of the teacher (App. A.1).  None keeps the weights
        (random for a teacher built here); ``"rotnet"`` predicts the
        rotation (0/90/180/270 deg) of the normal training images;
        ``"autoencoder"`` / ``"denoising"`` reconstruct the normal training
        data (from a copy with Gaussian noise of std ``denoising_std``)
        through a ``head_dim`` bottleneck; ``"classification"`` is
        cross-entropy on the auxiliary data ``X_aux, y_aux`` passed to
        :meth:`fit`; ``"supervised"`` is the paper's "baseline" upper bound,
        which sees anomalies: a binary normal-vs-anomaly classifier on the
        training rows labeled ``-1`` against the others, plus ``X_aux`` with
        ``y_aux`` in ``{+1, -1}`` when given.
    head : {"auto", "random", "bottleneck", "identity"}, default="auto"
        The teacher's output layer.  ``"random"``: a randomly initialised
        linear projection of the pooled features to ``head_dim`` units.
        ``"bottleneck"`` (autoencoder teachers only): the trained
        ``head_dim`` bottleneck of the autoencoder.  ``"auto"``: bottleneck
        for the autoencoder tasks, random otherwise (see Notes).
        ``"identity"``: no head, the ``teacher`` module's output (which must
        have ``head_dim`` features) is h(x); e.g. ``teacher=det.teacher_`` to
        distil the very same frozen teacher into another student.
    head_dim : int, default=128
        Output dimension of teacher and student (the paper's 128).
    student : torch.nn.Module or callable, default=None
        A custom student mapping a batch to ``(n_samples, head_dim)`` (or a
        callable building it from the input shape).  None: the teacher's
        architecture, head included, with every layer re-initialised.
    hidden_layer_sizes : "auto" or tuple of int, default="auto"
        Widths of the default MLP backbone for tabular data; ``"auto"`` is
        ``(256, 256)``.
    resnet_widths : tuple of 4 int, default=(64, 128, 256, 512)
        Channel widths of the default small ResNet (and of the mirrored
        decoder for autoencoder pretraining), used for image samples
        ``(channels, H, W)``.
    pretrain_epochs : int, default=20
        Epochs of teacher pretraining (not given in the paper).
    pretrain_lr : float, default=1e-3
        Adam learning rate of teacher pretraining (not given in the paper).
    denoising_std : float, default=0.1
        Standard deviation of the Gaussian input noise of the denoising
        autoencoder (not given in the paper; 0.1 on [0, 1] pixels).
    epochs : int, default=20
        Student epochs (the paper's 20; see Notes on small data).
    batch_size : int, default=64
        Mini-batch size of pretraining and distillation (not given in the paper).
    lr : float, default=1e-5
        Student learning rate (the paper's; larger ones were unstable there).
    lr_milestones : tuple of int, default=()
        Epochs after which the learning rates are divided by 10 (the paper
        uses a constant rate).
    weight_decay : float, default=0.0
        L2 penalty of the optimizer (none in the paper).
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or Optimizer class, default="adam"
        Optimizer of both stages (the paper's Adam).  Its own arguments are
        passed with the prefix ``optimizer__``, e.g.
        ``optimizer__momentum=0.9`` with ``"sgd"`` (see :ref:`routing`).
        KDStudentTeacher routes no ``network__`` arguments: its default
        networks are set by ``resnet_widths`` and ``hidden_layer_sizes``,
        and ``network__<arg>`` is refused with an error.
    input_shape : tuple of int, default=None
        Shape of one sample when images are given flattened, e.g. ``(1, 28, 28)``.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected fraction of outliers, which sets ``offset_``; ``"auto"``
        flags 10 % of the training data.
    device : "auto", "cpu", "cuda" or torch.device, default="auto"
        Where to train and score.
    random_state : int, RandomState instance or None, default=None
        Seed of every weight initialisation, noise draw and batch order.
    verbose : int, default=0
        0: silent; 1: a progress bar with the loss; 2: also one line per
        epoch with the losses, learning rate and duration.
    validation_fraction : float in (0, 1), default=None
        Fraction of the training data held out; the student's validation
        loss is its distillation MSE there (``history_[i]["valid_loss"]``), a
        test-free way to choose ``lr`` and ``epochs``.  The auxiliary data of
        ``"classification"`` get the same held-out fraction.
    n_iter_no_change : int, default=None
        Early stopping patience on the validation loss of each stage (needs
        ``validation_fraction``).
    callbacks : list of Callback, default=None
        Hooks into every training loop of ``fit``
        (:class:`skdeepad.callbacks.Callback`, used as given); a fit with
        callbacks is not stacked.

    Attributes
    ----------
    teacher_ : torch.nn.Sequential
        The frozen teacher: ``teacher_[0]`` the backbone, ``teacher_[1]`` the
        head.  Every parameter has ``requires_grad=False``.
    student_ : torch.nn.Module
        The trained student.
    history_ : list of dict
        Per-epoch ``train_loss`` (``valid_loss``), ``lr`` and ``dur`` (seconds)
        of the student.
    pretrain_history_ : list of dict
        The same for teacher pretraining (empty without pretraining).
    aux_classes_ : ndarray or None
        Classes of ``y_aux`` for ``teacher_pretrain="classification"``.
    hidden_layer_sizes_ : tuple of int or None
        MLP widths of the default tabular backbone (None otherwise).
    offset_ : float
        Threshold: ``decision_function = score_samples - offset_``.
    device_ : torch.device
        The device used.
    input_shape_ : tuple of int
        Shape of one sample.
    n_features_in_ : int
        Number of features (values per sample) seen in ``fit``.

    See Also
    --------
    AutoEncoder : Reconstruction-error detector.
    DeepSVDD : One-class detector on a learned representation.

    Notes
    -----
    The paper publishes no code; where it is silent this implementation
    chooses as follows (``../shared/specs/kd.md`` lists the facts):

    - **Student initialisation**: unstated; a fresh random initialisation
      drawn after the teacher's (a copy of the teacher would give zero error
      everywhere).
    - **Autoencoder teachers**: the paper says both that a random 128-d head
      is appended to the pooling layer and that the autoencoders have a
      128-d bottleneck whose decoder is discarded.  ``head="auto"`` uses the
      trained bottleneck (a linear layer on the pooled features, so the same
      architecture); ``head="random"`` gives them a random head like every
      other teacher.  The decoder (not described) mirrors the small ResNet
      (:class:`~skdeepad.networks.KDResNetDecoder`) or the MLP.
    - **Random teachers**: the BatchNorm statistics of a randomly initialised
      teacher built here are set to those of the normal training data
      (weights untouched), so its features are normalised as a trained
      network's would be; PyTorch's initial statistics would shrink the
      features layer after layer.
    - **Pretraining**: optimiser, epochs and learning rate are not given;
      Adam at ``pretrain_lr`` for ``pretrain_epochs`` (the spec's
      "standard Adam recipe" rather than cifar10-fast's one-cycle SGD), the
      classifier a plain linear layer on the pooled features.
    - **Inputs** are used as given (the paper does not say how it
      normalised them): images scaled to [0, 1] work as they are, tabular
      data belong behind a scaler in a pipeline.
    - **Small data**: at the paper's lr 1e-5 for 20 epochs, a student on a
      few hundred samples makes only a few hundred small steps and may barely
      move from its initialisation.  Raise ``lr`` or ``epochs``, choosing
      them on the validation distillation loss (``validation_fraction``),
      never on test anomalies; ``benchmarks/kd_mnist.py`` reports both.
    - **Scores and losses**: the student minimises the mean over output
      dimensions (MSE); the anomaly score is the sum (Eq. 1), which ranks
      samples identically.

    Labels: rows labeled ``-1`` (known anomalies) are never seen by the
    student or by the self-supervised teacher tasks; ``+1`` and ``0`` rows are
    used alike.  Only ``teacher_pretrain="supervised"`` uses known anomalies:
    the paper's baseline needs labeled anomalies to train its teacher and is
    an upper bound, not a one-class method.

    The paper's research diagnostics take the fitted detector:
    :func:`~skdeepad.inspection.mahalanobis_score` (its secondary detectors
    on the teacher's representation), :func:`~skdeepad.inspection.brittleness`
    (Eq. 2), :func:`~skdeepad.inspection.linear_probe_score` and
    :func:`~skdeepad.inspection.teacher_features`.

    References
    ----------
    .. [1] Mai, K. T., Davies, T., Griffin, L. D. "Brittle Features May Help
       Anomaly Detection." Women in Computer Vision Workshop at CVPR 2021,
       arXiv:2104.10453.
    .. [2] Page, D. C. "cifar10-fast." GitHub, 2018 (the small ResNet).

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import KDStudentTeacher
    >>> X = np.random.RandomState(0).randn(200, 4)
    >>> det = KDStudentTeacher(epochs=30, lr=1e-3, random_state=0).fit(X)
    >>> det.predict([[0.0, 0.0, 0.0, 0.0], [6.0, -6.0, 6.0, -6.0]])
    array([ 1, -1])
    """

    # The default teacher's only builder arguments are resnet_widths and
    # hidden_layer_sizes, already parameters: no network__ routing.
    _routed_prefixes = ("optimizer",)

    _parameter_constraints = {
        **BaseDeepDetector._parameter_constraints,
        "teacher": [StrOptions({"auto"}), nn.Module, callable],
        "teacher_weights": [str, os.PathLike, dict, None],
        "teacher_pretrain": [StrOptions(_PRETRAIN_TASKS), None],
        "head": [StrOptions({"auto", "random", "bottleneck", "identity"})],
        "head_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "student": [nn.Module, callable, None],
        "resnet_widths": ["array-like"],
        "pretrain_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "pretrain_lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "denoising_std": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        teacher="auto",
        teacher_weights=None,
        teacher_pretrain=None,
        head="auto",
        head_dim=128,
        student=None,
        hidden_layer_sizes="auto",
        resnet_widths=(64, 128, 256, 512),
        pretrain_epochs=20,
        pretrain_lr=1e-3,
        denoising_std=0.1,
        epochs=20,
        batch_size=64,
        lr=1e-5,
        lr_milestones=(),
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
        self.teacher = teacher
        self.teacher_weights = teacher_weights
        self.teacher_pretrain = teacher_pretrain
        self.head = head
        self.head_dim = head_dim
        self.student = student
        self.hidden_layer_sizes = hidden_layer_sizes
        self.resnet_widths = resnet_widths
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.denoising_std = denoising_std
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

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, X_aux=None, y_aux=None):
        """Pretrain and freeze the teacher, then distil it into the student.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Training data: a table, or images as ``(n, channels, H, W)`` (or
            flattened with ``input_shape``).
        y : array-like of shape (n_samples,), default=None
            Optional partial labels: ``+1`` known normal, ``-1`` known
            anomaly, ``0`` unlabeled.  Rows labeled ``-1`` are used only by
            ``teacher_pretrain="supervised"``.
        X_aux : array-like of shape (n_aux, ...) , default=None
            Auxiliary data for ``teacher_pretrain="classification"``
            (required) or ``"supervised"`` (optional), with the same sample
            shape as ``X``.  Rejected by the other tasks.
        y_aux : array-like of shape (n_aux,), default=None
            Their labels: any class labels for ``"classification"``; ``+1``
            normal / ``-1`` anomaly for ``"supervised"``.

        Returns
        -------
        self : object
            The fitted detector.
        """
        self._aux = (X_aux, y_aux)
        try:
            return super().fit(X, y)
        finally:
            del self._aux

    def _check_params(self):
        super()._check_params()
        widths = np.asarray(self.resnet_widths).ravel()
        if len(widths) != 4 or not all(isinstance(w, numbers.Integral) and w > 0
                                       for w in widths.tolist()):
            raise ValueError(
                "resnet_widths must be 4 positive integers (prep, layer1, layer2, "
                f"layer3 channels); got {self.resnet_widths!r}."
            )
        if self.head == "bottleneck" and self.teacher_pretrain not in ("autoencoder",
                                                                      "denoising"):
            raise ValueError(
                "head='bottleneck' needs an autoencoder teacher "
                "(teacher_pretrain='autoencoder' or 'denoising'); got "
                f"teacher_pretrain={self.teacher_pretrain!r}. Use head='random' or 'auto'."
            )
        X_aux, y_aux = self._aux
        if self.teacher_pretrain == "classification" and (X_aux is None or y_aux is None):
            raise ValueError(
                "teacher_pretrain='classification' needs auxiliary labeled data: "
                "fit(X, X_aux=..., y_aux=...)."
            )
        if (X_aux is not None or y_aux is not None) and self.teacher_pretrain not in _AUX_TASKS:
            raise ValueError(
                "X_aux / y_aux are used only by teacher_pretrain='classification' or "
                f"'supervised'; got teacher_pretrain={self.teacher_pretrain!r}."
            )
        if (X_aux is None) != (y_aux is None):
            raise ValueError("Give X_aux and y_aux together.")

    def _fit(self, X, y, valid):
        normal = X[y != -1]
        if len(normal) < 2:
            raise ValueError(
                f"KDStudentTeacher needs at least 2 training samples not labeled -1 "
                f"(known anomaly) to train the student; got {len(normal)}."
            )
        valid_normal = None if valid is None else valid[0][valid[1] != -1]

        # 1. Teacher backbone, pretrained on its auxiliary task.
        backbone, random_weights = self._initial_backbone(normal)
        dim = _output_dim(backbone, normal, "teacher")
        self.pretrain_history_, head = self._pretrain(backbone, dim, X, y, valid, normal,
                                                      valid_normal)
        # 2. The task head is dropped; a random linear head (or the AE
        #    bottleneck) gives h(x); everything is frozen.
        if self.head == "identity":
            if dim != self.head_dim:
                raise ValueError(
                    f"head='identity' uses the teacher's output as h(x), which has {dim} "
                    f"features; set head_dim={dim}."
                )
            head = nn.Identity()
        elif head is None:
            head = nn.Linear(dim, self.head_dim).to(self.device_)
        if random_weights:
            recalibrate_batch_norm(backbone, (normal[a:b] for a, b in
                                              batch_slices(len(normal), self.batch_size)))
        self.teacher_ = nn.Sequential(backbone, head).requires_grad_(False).eval()

        # 3. The student regresses the (fixed, precomputed) teacher outputs on
        #    the normal data, without augmentation.
        self.student_ = self._initial_student(normal)
        targets = self._map_batches(self.teacher_, normal).clone()
        valid_kd = None
        if valid_normal is not None:
            valid_kd = (valid_normal, self._map_batches(self.teacher_, valid_normal).clone())
        student = self.student_

        def loss_fn(x, h):
            return distillation_loss(student(x), h)

        self.history_ = self._train(loss_fn, [student], (normal, targets), valid=valid_kd,
                                    desc="KDStudentTeacher student")

    # ------------------------------------------------------------- networks
    def _initial_backbone(self, normal):
        """The teacher's backbone and whether its weights are random."""
        shape = tuple(self.input_shape_)
        self.hidden_layer_sizes_ = None
        if isinstance(self.teacher, str):  # "auto"
            if len(shape) not in (1, 3):
                # (H, W) may be a grayscale image without its channel axis or a
                # sequence (T, d): guessing would silently pick the network.
                example = (1, *shape) if len(shape) == 2 else "(channels, height, width)"
                raise ValueError(
                    f"X has samples of shape {shape}, which teacher='auto' cannot "
                    "interpret: it builds the small ResNet (of widths resnet_widths) "
                    "for images of shape (channels, height, width) and an MLP (of "
                    "widths hidden_layer_sizes) for flat samples. For images, add "
                    f"the channel axis (X[:, None], or flattened X with "
                    f"input_shape={example}); for the MLP, flatten the samples "
                    "(X.reshape(len(X), -1)); or pass your own teacher."
                )
            if len(shape) == 3:
                backbone = KDResNet(shape[0], tuple(int(w) for w in self.resnet_widths))
            else:
                sizes = (DEFAULT_MLP_SIZES if isinstance(self.hidden_layer_sizes, str)
                         else tuple(int(h) for h in self.hidden_layer_sizes))
                self.hidden_layer_sizes_ = sizes
                backbone = nn.Sequential(MLP(int(np.prod(shape)), sizes), nn.LeakyReLU(0.1))
            backbone = backbone.to(self.device_)
        else:
            backbone = _build_module(self.teacher, "teacher", shape, self.device_)
        random_weights = not isinstance(self.teacher, nn.Module)
        if self.teacher_weights is not None:
            self._load_weights(backbone)
            random_weights = False
        return backbone, random_weights and self.teacher_pretrain is None

    def _load_weights(self, backbone):
        state = self.teacher_weights
        if not isinstance(state, dict):
            try:
                state = torch.load(state, map_location=self.device_, weights_only=True)
            except Exception as exc:  # unreadable file, or pickled code
                raise ValueError(
                    f"teacher_weights={self.teacher_weights!r} could not be loaded as a "
                    f"state_dict with torch.load(weights_only=True): {exc}"
                ) from exc
        try:
            backbone.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise ValueError(
                "teacher_weights does not match the teacher's backbone (give the "
                f"state_dict of the module `teacher` describes): {exc}"
            ) from exc

    def _decoder(self, normal):
        """Decoder of the autoencoder tasks: mirrors the backbone's input side."""
        activation = ("sigmoid" if bool(normal.min() >= 0) and bool(normal.max() <= 1)
                      else "identity")
        shape = tuple(self.input_shape_)
        if len(shape) == 3:
            decoder = KDResNetDecoder(shape, self.head_dim,
                                      tuple(int(w) for w in self.resnet_widths), activation)
        else:
            sizes = self.hidden_layer_sizes_ or DEFAULT_MLP_SIZES
            decoder = MLPDecoder(shape, (*sizes, self.head_dim), output_activation=activation)
        return decoder.to(self.device_)

    def _initial_student(self, normal):
        """Same architecture as the teacher, every layer freshly initialised."""
        if self.student is not None:
            student = _build_module(self.student, "student", self.input_shape_, self.device_)
            dim = _output_dim(student, normal, "student")
            if dim != self.head_dim:
                raise ValueError(
                    f"The student outputs {dim} values per sample; it must match the "
                    f"teacher's head_dim={self.head_dim}."
                )
            return student.requires_grad_(True)
        student = _build_module(self.teacher_, "teacher", self.input_shape_, self.device_)
        for module in student.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        student.requires_grad_(True).train()
        same = all(torch.equal(p, q) for p, q in zip(student.parameters(),
                                                      self.teacher_.parameters()))
        if same:
            raise ValueError(
                "The student's fresh initialisation equals the teacher's weights: either "
                "no layer has reset_parameters(), or the teacher is a random network drawn "
                "with this same random_state. Use another random_state or pass `student`."
            )
        return student

    # ----------------------------------------------------------- pretraining
    def _pretrain(self, backbone, dim, X, y, valid, normal, valid_normal):
        """Train ``backbone`` on the auxiliary task; returns (history, AE bottleneck or None)."""
        task = self.teacher_pretrain
        if task is None:
            return [], None
        epochs, device = self.pretrain_epochs, self.device_
        valid_x = None if valid_normal is None else (valid_normal,)
        bottleneck = None
        if task in ("autoencoder", "denoising"):
            bottleneck = nn.Linear(dim, self.head_dim).to(device)
            model = EncoderDecoder(nn.Sequential(backbone, bottleneck), self._decoder(normal))
            noise = self.denoising_std if task == "denoising" else 0.0

            def loss_fn(x):
                return _autoencoder_loss(model, x, noise)

            data, valid_data = (normal,), valid_x
        elif task == "rotnet":
            shape = tuple(self.input_shape_)
            if len(shape) != 3 or shape[1] != shape[2]:
                raise ValueError(
                    "teacher_pretrain='rotnet' needs square images (channels, H, H); "
                    f"the samples have shape {shape}."
                )
            model = nn.Sequential(backbone, nn.Linear(dim, 4)).to(device)

            def loss_fn(x):
                return rotation_loss(model, x)

            data, valid_data = (normal,), valid_x
        else:
            data, valid_data, n_classes = self._labeled_pretraining_data(X, y, valid)
            model = nn.Sequential(backbone, nn.Linear(dim, n_classes)).to(device)

            def loss_fn(x, target):
                return F.cross_entropy(model(x), target)

        if self.n_iter_no_change is not None and valid_data is None:
            raise ValueError(
                f"n_iter_no_change needs held-out data for teacher_pretrain={task!r}; "
                "give validation_fraction as well."
            )
        history = self._train(loss_fn, [model], data, valid=valid_data, epochs=epochs,
                              lr=self.pretrain_lr,
                              desc=f"KDStudentTeacher teacher ({task})")
        return history, (bottleneck if self._use_bottleneck() else None)

    def _use_bottleneck(self):
        return self.head == "bottleneck" or (
            self.head == "auto" and self.teacher_pretrain in ("autoencoder", "denoising"))

    def _aux_tensors(self):
        X_aux, y_aux = self._aux
        X_aux = check_array(X_aux, allow_nd=True, dtype=[np.float32, np.float64],
                            input_name="X_aux")
        if int(np.prod(X_aux.shape[1:])) != self.n_features_in_ or (
                X_aux.ndim > 2 and tuple(X_aux.shape[1:]) != tuple(self.input_shape_)):
            raise ValueError(
                f"X_aux has samples of shape {X_aux.shape[1:]}; they must have the "
                f"shape of X's samples, {tuple(self.input_shape_)} (or be flattened)."
            )
        y_aux = column_or_1d(y_aux)
        check_consistent_length(X_aux, y_aux)
        return self._to_tensor(X_aux.reshape(len(X_aux), -1)), y_aux

    def _labeled_pretraining_data(self, X, y, valid):
        """(data, valid_data, n_classes) of the classification / supervised tasks."""
        device = self.device_
        if self.teacher_pretrain == "classification":
            X_aux, y_aux = self._aux_tensors()
            encoder = LabelEncoder().fit(y_aux)
            self.aux_classes_ = encoder.classes_
            if len(encoder.classes_) < 2:
                raise ValueError(
                    "teacher_pretrain='classification' needs at least 2 classes in "
                    f"y_aux; got {encoder.classes_.tolist()}."
                )
            target = torch.as_tensor(encoder.transform(y_aux), device=device)
            data, valid_data = (X_aux, target), None
            if self.validation_fraction is not None:
                data, valid_data = self._split_validation(X_aux, target)
            return data, valid_data, len(encoder.classes_)
        # "supervised": normal (0) vs anomaly (1), the paper's baseline teacher.
        self.aux_classes_ = None
        X_parts, t_parts = [X], [(y == -1).long()]
        if self._aux[0] is not None:
            X_aux, y_aux = self._aux_tensors()
            y_aux = check_partial_labels(y_aux, len(y_aux), allow_only_anomalies=True)
            if np.any(y_aux == 0):
                raise ValueError(
                    "With teacher_pretrain='supervised', y_aux must label every auxiliary "
                    "sample +1 (normal) or -1 (anomaly); it has 0 (unlabeled) entries."
                )
            X_parts.append(X_aux)
            t_parts.append(torch.as_tensor(y_aux == -1, device=device).long())
        target = torch.cat(t_parts)
        if not bool((target == 1).any()):
            raise ValueError(
                "teacher_pretrain='supervised' (the paper's baseline) needs labeled "
                "anomalies: rows of y equal to -1, or X_aux with y_aux == -1."
            )
        valid_data = None if valid is None else (valid[0], (valid[1] == -1).long())
        return (torch.cat(X_parts), target), valid_data, 2

    # ---------------------------------------------------------------- scoring
    def _score_batch(self, X):
        """Minus Eq. 1, ``-||h(x) - f(x)||^2`` (higher = more normal)."""
        return -distillation_error(self.student_(X), self.teacher_(X))
