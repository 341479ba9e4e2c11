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
