"""Autoencoder anomaly detector (reconstruction error), also used as pretraining."""

from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .base import BaseDeepDetector, BaseDeepEstimator
from .networks import EncoderDecoder, make_default_autoencoder, reconstruction_error

__all__ = ["AutoEncoder", "AutoEncoderFeatures"]


def autoencoder_loss(net, epoch, x, *_):
    """Mean reconstruction error of each member's batch (Appendix E), shape ``(K,)``.

    ``x`` is a ``(K, B, ...)`` stack of batches and ``net`` the members'
    autoencoders (the training loss of :mod:`skdeepad._stacked`).
    """
    K, B = x.shape[:2]
    return reconstruction_error(net(x).flatten(0, 1), x.flatten(0, 1)).view(K, B).mean(dim=1)


#: Arguments of the default network builder that the estimators set themselves.
_BUILDER_OWN = {"input_shape": "the data", "hidden_layer_sizes": "its `hidden_layer_sizes`",
                "output_activation": "the range of the training data", "init": "its `init`"}


def build_autoencoder(est, X):
    """The default autoencoder for tensor ``X`` with ``est``'s settings.

    The decoder ends in a sigmoid when the training data lie in [0, 1] (the
    paper's min-max-scaled setting) and is linear otherwise, so standardised
    data can be reconstructed too.  ``network__<arg>`` parameters reach
    :func:`~skdeepad.networks.make_default_autoencoder` (e.g.
    ``network__negative_slope``).  Returns the module and the MLP sizes
    (``None`` for the LeNet CNNs).
    """
    in_unit_range = bool(X.min() >= 0) and bool(X.max() <= 1)
    encoder, decoder, sizes = make_default_autoencoder(
        est.input_shape_,
        est.hidden_layer_sizes,
        output_activation="sigmoid" if in_unit_range else "identity",
        init=est.init,
        **est._checked_routed("network", make_default_autoencoder, _BUILDER_OWN),
    )
    return EncoderDecoder(encoder, decoder).to(X.device), sizes


def _new_autoencoder(est, X):
    """``est``'s autoencoder before training: the default one, or a copy of the user's."""
    if est.network is None:
        network, est.hidden_layer_sizes_ = build_autoencoder(est, X)
        return network
    est.hidden_layer_sizes_ = None
    return est._user_network()


class _AutoEncoderFit:
    """The fit of :class:`AutoEncoder` and :class:`AutoEncoderFeatures`, for a stack of them."""

    @classmethod
    def _fit_stack(cls, stack):
        rows = stack.rows(lambda X, y: (X[y != -1],))  # known anomalies are left out
        networks = stack.build(_new_autoencoder, rows)
        histories = stack.train(networks, autoencoder_loss, rows, epochs=stack.first.epochs,
                                desc=stack.label(cls.__name__))
        for est, network, history, (X,) in zip(stack.members, networks, histories,
                                               rows.members):
            est.network_, est.history_ = network, history
            est._check_network(X)

    def _check_network(self, X):
        """Hook run on each fitted member with its training rows."""


class AutoEncoder(_AutoEncoderFit, BaseDeepDetector):
    """Autoencoder anomaly detector: the reconstruction error is the anomaly score.

    The encoder is the network of the Deep SAD paper's Appendix D (a bias-free
    MLP for tabular data, a LeNet-type CNN for 1x28x28 and 3x32x32 images) and
    the decoder its mirror image, with max-pooling replaced by upsampling and
    convolutions by transposed convolutions (Appendix E).  Weights start at
    PyTorch's default initialisation (the authors' code; ``init``), the
    loss is the mean squared error, optimised with the paper's schedule for
    all deep methods.

    Read more in the :ref:`User Guide <conventions>`.

    Parameters
    ----------
    hidden_layer_sizes : "auto" or tuple of int, default="auto"
        Encoder sizes for tabular data; the last entry is the bottleneck.
        ``"auto"`` uses the paper's MLPs: (128, 64, 32) above 100 features,
        (32, 16, 4) below 8, (32, 16, 8) otherwise.
    network : torch.nn.Module or callable, default=None
        A whole autoencoder (input -> reconstruction of the same shape), or a
        callable building one from the input shape.  ``None`` builds the default.
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
        Epochs after which the learning rate is divided by 10 (1e-4 for 50
        epochs, then 1e-5: Appendix E).
    weight_decay : float, default=1e-6
        L2 penalty of the optimizer.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or Optimizer class, default="adam"
        Optimizer.  Its own arguments are passed with the prefix
        ``optimizer__``, e.g. ``optimizer__momentum=0.9`` with ``"sgd"``
        (see :ref:`routing`).
    input_shape : tuple of int, default=None
        Shape of one sample when ``X`` is given flattened (e.g. ``(1, 28, 28)``).
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected fraction of outliers, which sets ``offset_``.  ``"auto"``
        flags 10 % of the training data.
    device : "auto", "cpu", "cuda" or torch.device, default="auto"
        Where to train and score; ``"auto"`` picks CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seed of the weights and batch order; an int makes fits reproducible.
    verbose : int, default=0
        0: silent; 1: a progress bar with the loss; 2: also one line per
        epoch with the losses, learning rate and duration.
    validation_fraction : float in (0, 1), default=None
        Fraction of the training data held out to monitor a validation loss.
    n_iter_no_change : int, default=None
        Stop after that many epochs without validation improvement and keep
        the best epoch's weights (needs ``validation_fraction``).
    callbacks : list of Callback, default=None
        Hooks into every training loop of ``fit``
        (:class:`skdeepad.callbacks.Callback`, used as given); a fit with
        callbacks is not stacked.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained autoencoder (``network_.encoder``, ``network_.decoder``
        for the default one).
    hidden_layer_sizes_ : tuple of int or None
        The MLP sizes used (None for a CNN or a user network).
    history_ : list of dict
        Per-epoch ``train_loss`` (``valid_loss``), ``lr`` and ``dur`` (seconds).
    offset_ : float
        Threshold on ``score_samples``: ``decision_function = score_samples - offset_``.
    device_ : torch.device
        The device used.
    input_shape_ : tuple of int
        Shape of one sample.
    n_features_in_ : int
        Number of features (values per sample) seen in ``fit``.

    See Also
    --------
    DeepSVDD : Hypersphere one-class detector, pretrained with this autoencoder.
    DeepSAD : Its semi-supervised generalisation.

    Notes
    -----
    Samples labeled ``-1`` (known anomalies) are left out of training; ``+1``
    and ``0`` are used alike.

    References
    ----------
    .. [1] Ruff, L., Vandermeulen, R. A., Görnitz, N., Binder, A., Müller, E.,
       Müller, K.-R., Kloft, M. "Deep Semi-Supervised Anomaly Detection."
       ICLR 2020, Appendices D-E.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepad import AutoEncoder
    >>> X = np.random.RandomState(0).rand(100, 5)
    >>> det = AutoEncoder(epochs=5, random_state=0).fit(X)
    >>> det.predict([[0.5, 0.5, 0.5, 0.5, 0.5], [9, 9, 9, 9, 9]])
    array([ 1, -1])
    """

    def __init__(
        self,
        *,
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

    def _score_batch(self, X):
        """Minus the reconstruction error (higher = more normal)."""
        return -reconstruction_error(self.network_(X), X)


class AutoEncoderFeatures(_AutoEncoderFit, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                          BaseDeepEstimator):
    """Autoencoder bottleneck features, for the Deep SAD paper's hybrid baselines.

    Trains the same autoencoder as :class:`AutoEncoder` and transforms data
    to its bottleneck (the encoder's output), so that a shallow detector can
    run on the learned representation (Appendix E, "Hybrid Variants")::

        make_pipeline(StandardScaler(), AutoEncoderFeatures(), OneClassSVM())

    is the hybrid OC-SVM, and likewise for IsolationForest, KDE or SSAD.  In
    a pipeline ``y`` reaches every step, so partial labels still reach a
    semi-supervised final detector; this transformer trains on the rows not
    labeled ``-1`` (known anomalies are left out, as in :class:`AutoEncoder`).

    Parameters
    ----------
    hidden_layer_sizes : "auto" or tuple of int, default="auto"
        Encoder sizes for tabular data; the last entry is the number of
        output features.  ``"auto"``: (128, 64, 32) above 100 features,
        (32, 16, 4) below 8, (32, 16, 8) otherwise; LeNet CNNs for 1x28x28
        and 3x32x32 images.
    network : torch.nn.Module or callable, default=None
        A whole autoencoder with ``encoder`` and ``decoder`` attributes (or a
        callable building one from the input shape).
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
        L2 penalty of the optimizer.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or Optimizer class, default="adam"
        Optimizer.  Its own arguments are passed with the prefix
        ``optimizer__``, e.g. ``optimizer__momentum=0.9`` with ``"sgd"``
        (see :ref:`routing`).
    input_shape : tuple of int, default=None
        Shape of one sample when images are given flattened.
    device : "auto", "cpu", "cuda" or torch.device, default="auto"
        Where to train and transform.
    random_state : int, RandomState instance or None, default=None
        Seed of the weights and batch order.
    verbose : int, default=0
        0: silent; 1: a progress bar with the loss; 2: also one line per
        epoch with the losses, learning rate and duration.
    validation_fraction : float in (0, 1), default=None
        Fraction of the training data held out to monitor a validation loss.
    n_iter_no_change : int, default=None
        Early stopping patience (needs ``validation_fraction``).
    callbacks : list of Callback, default=None
        Hooks into every training loop of ``fit``
        (:class:`skdeepad.callbacks.Callback`, used as given); a fit with
        callbacks is not stacked.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained autoencoder.
    hidden_layer_sizes_ : tuple of int or None
        The MLP sizes used (None for a CNN or a user network).
    history_ : list of dict
        Per-epoch losses, learning rate and duration.
    device_ : torch.device
        The device used.
    input_shape_ : tuple of int
        Shape of one sample.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    AutoEncoder : The same network as a reconstruction-error detector.

    References
    ----------
    .. [1] Ruff, L., et al. "Deep Semi-Supervised Anomaly Detection." ICLR
       2020, Appendix E.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.svm import OneClassSVM
    >>> from skdeepad import AutoEncoderFeatures
    >>> X = np.random.RandomState(0).rand(100, 10)
    >>> hybrid = make_pipeline(AutoEncoderFeatures(epochs=5, random_state=0),
    ...                        OneClassSVM(nu=0.1)).fit(X)
    >>> hybrid[0].transform(X).shape
    (100, 8)
    """

    def __init__(
        self,
        *,
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
        device="auto",
        random_state=None,
        verbose=0,
        validation_fraction=None,
        n_iter_no_change=None,
        callbacks=None,
        **kwargs,
    ):
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
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self._set_routed(kwargs)

    def _check_network(self, X):
        if not hasattr(self.network_, "encoder"):
            raise TypeError(
                "AutoEncoderFeatures needs an autoencoder with an `encoder` attribute "
                f"to read its bottleneck; got {type(self.network_).__name__}."
            )
        self._n_features_out = int(self._map_batches(self.network_.encoder, X[:2]).shape[1])

    def transform(self, X):
        """The encoder's output (bottleneck features) for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,) + input_shape
            Samples to encode.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_bottleneck)
            Float64 features.
        """
        check_is_fitted(self)
        X = self._to_tensor(self._validate_X(X, reset=False))
        Z = self._check_finite_output(self._map_batches(self.network_.encoder, X), X, "features")
        return Z.double().cpu().numpy()
