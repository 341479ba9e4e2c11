"""The paper's networks (Appendix D) and their inference path."""

import pytest
import torch

from skdeepad.networks import (
    MLP,
    LeNetCIFAR,
    LeNetMNIST,
    default_hidden_layer_sizes,
    make_default_autoencoder,
)


@pytest.mark.parametrize("n_features, sizes", [(274, (128, 64, 32)), (21, (32, 16, 8)),
                                               (9, (32, 16, 8)), (6, (32, 16, 4))])
def test_default_sizes_are_the_papers(n_features, sizes):
    """arrhythmia 128-64-32, cardio/satellite/shuttle 32-16-8, thyroid 32-16-4."""
    assert default_hidden_layer_sizes(n_features) == sizes


@pytest.mark.parametrize("shape, encoder, rep_dim", [((1, 28, 28), LeNetMNIST, 32),
                                                     ((3, 32, 32), LeNetCIFAR, 128)])
def test_image_shapes_get_lenets_that_reconstruct_their_input(shape, encoder, rep_dim):
    """28x28 and 32x32 images get the paper's CNNs; the decoder mirrors them."""
    enc, dec, sizes = make_default_autoencoder(shape)
    x = torch.rand(3, *shape)
    assert isinstance(enc, encoder) and sizes is None
    assert enc(x).shape == (3, rep_dim) and dec(enc(x)).shape == x.shape


def test_networks_have_no_bias_and_no_bn_affine():
    """No bias terms and no learnable BN shift anywhere (hypersphere collapse guard)."""
    for shape in [(9,), (1, 28, 28), (3, 32, 32)]:
        enc, dec, _ = make_default_autoencoder(shape)
        names = [n for n, _ in [*enc.named_parameters(), *dec.named_parameters()]]
        assert names and not any(n.endswith("bias") for n in names)


def _linear_weights(*modules):
    return [m.weight.detach() for mod in modules for m in mod.modules()
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d))]


def _fans(weight):
    # PyTorch's own rule (for a transposed convolution, fan_in is read from
    # weight.size(1), as its default initialisation does).
    return torch.nn.init._calculate_fan_in_and_fan_out(weight)


@pytest.mark.parametrize("shape", [(6,), (21,), (274,), (1, 28, 28)])
def test_default_init_is_pytorchs_as_in_the_authors_code(shape):
    """Every weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default (the
    authors' code), not Glorot-uniform's wider U(-sqrt(6/(fan_in+fan_out)), ...)."""
    torch.manual_seed(0)
    enc, dec, _ = make_default_autoencoder(shape)
    for w in _linear_weights(enc, dec):
        fan_in, _ = _fans(w)
        bound = 1 / fan_in**0.5
        assert float(w.abs().max()) <= bound + 1e-7
        if w.numel() >= 100:  # a uniform's std is bound / sqrt(3)
            assert float(w.std()) == pytest.approx(bound / 3**0.5, rel=0.25)


def test_glorot_init_option_draws_glorot_uniform_weights():
    torch.manual_seed(0)
    enc, dec, _ = make_default_autoencoder((274,), init="glorot")
    for w in _linear_weights(enc, dec):
        fan_in, fan_out = _fans(w)
        bound = (6 / (fan_in + fan_out)) ** 0.5
        assert float(w.abs().max()) <= bound + 1e-7
        assert float(w.std()) == pytest.approx(bound / 3**0.5, rel=0.25)


def test_cifar_decoder_keeps_the_reference_codes_glorot_deconvolutions():
    """The one exception in the authors' code: CIFAR-10 decoder deconvolutions are
    Glorot-uniform with the leaky ReLU gain; its encoder keeps PyTorch's default."""
    torch.manual_seed(0)
    enc, dec, _ = make_default_autoencoder((3, 32, 32))
    gain = torch.nn.init.calculate_gain("leaky_relu")
    for w in _linear_weights(dec):
        fan_in, fan_out = _fans(w)
        assert float(w.std()) == pytest.approx(gain * (2 / (fan_in + fan_out)) ** 0.5, rel=0.25)
    conv = _linear_weights(enc)[0]
    assert float(conv.abs().max()) <= 1 / _fans(conv)[0] ** 0.5 + 1e-7


def test_estimators_default_to_the_reference_init_and_batch():
    """The defaults that reproduce Table 2 (see the "Defaults and their sources" page)."""
    from skdeepad import AutoEncoder, AutoEncoderFeatures, DeepSAD, DeepSVDD

    for cls in (DeepSVDD, DeepSAD, AutoEncoder, AutoEncoderFeatures):
        params = cls().get_params()
        assert params["init"] == "default", cls
        assert params["batch_size"] == 128, cls


def test_mlp_inference_folds_batchnorm_exactly():
    """Eval-mode inference with BN folded equals the layer-by-layer forward, and follows updates."""
    torch.manual_seed(0)
    net = MLP(7, (16, 8, 3))
    x = torch.randn(64, 7)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(2):
        net.train()
        opt.zero_grad()
        net(x).pow(2).sum().backward()
        opt.step()
        net.eval()
        with torch.no_grad():
            folded = net(x)
        unfolded = net(x)  # grad mode: the plain Sequential
        torch.testing.assert_close(folded, unfolded.detach(), rtol=1e-4, atol=1e-5)


def test_recalibrate_batch_norm_sets_exact_statistics_and_restores_momentum():
    """Running mean/var become the exact averages over the batches; momentum comes back."""
    from skdeepad.networks._batchnorm import batch_norm_momentum, recalibrate_batch_norm

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4, momentum=0.3))
    X = torch.randn(60, 3)
    recalibrate_batch_norm(net, (X[a:a + 20] for a in range(0, 60, 20)))
    bn = net[1]
    with torch.no_grad():
        h = net[0](X)
    # cumulative average of the three per-batch statistics (unbiased variance)
    means = torch.stack([h[a:a + 20].mean(0) for a in range(0, 60, 20)])
    variances = torch.stack([h[a:a + 20].var(0) for a in range(0, 60, 20)])
    torch.testing.assert_close(bn.running_mean, means.mean(0))
    torch.testing.assert_close(bn.running_var, variances.mean(0))
    assert bn.momentum == 0.3 and not net.training
    net.train()
    with batch_norm_momentum(net, 0.0):
        net(X + 5.0)
    torch.testing.assert_close(bn.running_mean, means.mean(0))
