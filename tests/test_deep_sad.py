"""Behaviour of AutoEncoder, DeepSVDD and DeepSAD (Ruff et al., ICLR 2020)."""


import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from skdeepad import AutoEncoder, DeepSAD, DeepSVDD
from skdeepad._deep_sad import deep_sad_loss, init_center, soft_boundary_loss

FAST = dict(epochs=10, pretrain_epochs=10, batch_size=32, device="cpu", random_state=0)


def test_deep_sad_loss_is_equation_8():
    """Unlabeled: d; labeled normal: eta*(d+eps); labeled anomaly: eta/(d+eps); batch mean."""
    d = torch.tensor([1.0, 2.0, 4.0, 0.5])
    s = torch.tensor([0.0, 1.0, -1.0, -1.0])
    expected = (1.0 + 3 * (2.0 + 1e-6) + 3 / (4.0 + 1e-6) + 3 / (0.5 + 1e-6)) / 4
    assert deep_sad_loss(d, s, eta=3.0).item() == pytest.approx(expected, rel=1e-6)


def test_soft_boundary_loss_penalises_only_outside_points():
    """R^2 + mean(max(0, d - R^2)) / nu."""
    d = torch.tensor([0.5, 1.0, 3.0])
    assert soft_boundary_loss(d, torch.tensor(1.0), 0.5).item() == pytest.approx(1 + 2 / 3 / 0.5)


def test_center_coordinates_pushed_away_from_zero():
    """|c_k| < 0.1 becomes +-0.1 with the sign kept; exact zeros become +0.1."""
    z = torch.tensor([[0.05, -0.05, 0.0, 1.0], [0.03, -0.01, 0.0, 3.0]])
    assert init_center(z).tolist() == pytest.approx([0.1, -0.1, 0.1, 2.0])


def test_deep_sad_without_labels_is_one_class_deep_svdd(blobs):
    """With no labels, Deep SAD and One-Class Deep SVDD give the same scores."""
    X, _ = blobs
    sad = DeepSAD(**FAST).fit(X)
    svdd = DeepSVDD(**FAST).fit(X, np.zeros(len(X)))
    np.testing.assert_allclose(sad.score_samples(X), svdd.score_samples(X), rtol=1e-6)


def test_pretraining_initialises_the_network_with_the_encoder(blobs):
    """After pretraining, phi equals the trained autoencoder's encoder, BN statistics included."""
    X, _ = blobs
    sad = DeepSAD(epochs=0, pretrain_epochs=5, batch_size=32, device="cpu", random_state=0).fit(X)
    ae = AutoEncoder(epochs=5, batch_size=32, device="cpu", random_state=0).fit(X)
    phi, encoder = sad.network_.state_dict(), ae.network_.encoder.state_dict()
    assert phi.keys() == encoder.keys() and any("running_mean" in k for k in phi)
    for key in phi:
        torch.testing.assert_close(phi[key], encoder[key], rtol=0, atol=0)
    fresh = DeepSAD(epochs=0, pretrain=False, batch_size=32, device="cpu", random_state=0).fit(X)
    assert not torch.equal(next(fresh.network_.parameters()), next(sad.network_.parameters()))


def test_center_excludes_labeled_anomalies(blobs):
    """c is the mean representation of unlabeled and known-normal samples only."""
    X, y = blobs
    y_partial = np.where(y == 1, -1, 0)
    det = DeepSAD(epochs=0, pretrain=False, device="cpu", random_state=0).fit(X, y_partial)
    det.network_.eval()
    with torch.no_grad():
        z = det.network_(torch.as_tensor(X[y == 0], dtype=torch.float32))
    np.testing.assert_allclose(det.center_, init_center(z).numpy(), rtol=1e-5)


def _hard_task(seed):
    """Normals N(0, I); anomalies a nearby cluster that unsupervised methods find hard."""
    rng = np.random.RandomState(seed)
    normal = rng.randn(400, 6)
    shift = np.r_[2.0, np.zeros(5)]
    train_anom = rng.randn(12, 6) * 0.5 + shift
    X = np.r_[normal, train_anom]
    y = np.r_[np.zeros(400), -np.ones(12)]
    X_test = np.r_[rng.randn(200, 6), rng.randn(40, 6) * 0.5 + shift]
    y_test = np.r_[np.zeros(200), np.ones(40)]
    return X, y, X_test, y_test


def test_labeled_anomalies_help_deep_sad():
    """Deep SAD with a few labeled anomalies beats unsupervised Deep SVDD on their kind."""
    gains = []
    for seed in range(2):
        X, y, X_test, y_test = _hard_task(seed)
        params = dict(epochs=30, pretrain_epochs=10, lr=1e-3, batch_size=64,
                      device="cpu", random_state=seed)
        sad = DeepSAD(**params).fit(X, y)
        svdd = DeepSVDD(**params).fit(X[y == 0])
        gains.append(roc_auc_score(y_test, -sad.score_samples(X_test))
                     - roc_auc_score(y_test, -svdd.score_samples(X_test)))
    assert np.mean(gains) > 0.05, gains


def test_detectors_rank_obvious_anomalies_last(blobs):
    """Far-away points get lower scores than every normal point."""
    X, y = blobs
    for det in [AutoEncoder(epochs=10, batch_size=32, device="cpu", random_state=0),
                DeepSVDD(**FAST), DeepSAD(**FAST)]:
        scores = det.fit(X[y == 0]).score_samples(X)
        assert roc_auc_score(y, -scores) > 0.95, type(det).__name__


def test_soft_boundary_radius_encloses_one_minus_nu(blobs):
    """The final radius leaves a fraction nu of the training data outside the sphere."""
    X, _ = blobs
    det = DeepSVDD(objective="soft-boundary", nu=0.2, **{**FAST, "epochs": 12}).fit(X)
    outside = np.mean(det.predict(X) == -1)
    assert det.radius_ > 0
    assert outside == pytest.approx(0.2, abs=0.02)
    assert det.offset_ == pytest.approx(-det.radius_**2)


def test_collapse_is_warned_about():
    """A network with biases that maps everything onto c triggers a collapse warning."""
    X = np.random.RandomState(0).rand(100, 4)
    net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    det = DeepSVDD(network=net, pretrain=False, epochs=300, lr=0.05, weight_decay=1.0,
                   batch_size=100, lr_milestones=(), device="cpu", random_state=0)
    with pytest.warns(UserWarning) as record:
        det.fit(X)
    messages = " ".join(str(w.message) for w in record)
    assert "bias" in messages and "collapse" in messages


def test_custom_network_requires_pretrain_false(blobs):
    """A custom phi has no decoder, so pretraining is refused with advice."""
    X, _ = blobs
    net = torch.nn.Sequential(torch.nn.Linear(5, 3, bias=False))
    with pytest.raises(ValueError, match="pretrain=False"):
        DeepSAD(network=net, device="cpu").fit(X)
    det = DeepSAD(network=net, pretrain=False, epochs=2, device="cpu").fit(X)
    assert det.network_ is not net  # the user's module is not trained in place
    assert torch.equal(net[0].weight, net[0].weight.clone())


def test_images_nd_and_flattened_agree():
    """(n, 1, 28, 28) arrays and flattened rows with input_shape give the same model."""
    rng = np.random.RandomState(0)
    X = rng.rand(24, 1, 28, 28).astype(np.float32)
    params = dict(epochs=1, pretrain_epochs=1, batch_size=8, device="cpu", random_state=0)
    nd = DeepSAD(**params).fit(X)
    flat = DeepSAD(input_shape=(1, 28, 28), **params).fit(X.reshape(24, -1))
    assert nd.hidden_layer_sizes_ is None and nd.center_.shape == (32,)  # LeNet, rep_dim 32
    np.testing.assert_array_equal(nd.score_samples(X), flat.score_samples(X.reshape(24, -1)))
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        nd.score_samples(rng.rand(2, 1, 14, 56))


def test_balanced_sampling_gives_labeled_anomalies_half_the_draws():
    """sampling="balanced": labeled anomalies carry half the draw probability."""
    y = torch.tensor([0.0, 0, 0, 1, -1, 0, 0, -1])
    w = DeepSAD(sampling="balanced")._sample_weights((None, y))
    assert float(w[y == -1].sum()) == pytest.approx(0.5)
    assert float(w[y != -1].sum()) == pytest.approx(0.5)
    assert DeepSAD()._sample_weights((None, y)) is None


def test_loop_draws_rows_by_sample_weights():
    """With sample_weights, an epoch visits only rows of positive weight, with replacement."""
    from skdeepad._train import train_loop

    seen = []
    X = torch.arange(10.0)
    weights = torch.zeros(10)
    weights[[2, 7]] = 1.0

    def step(batch, epoch):
        seen.append(batch[0])
        return torch.zeros(())

    train_loop(step, (X,), modules=[], epochs=3, batch_size=4, sample_weights=weights)
    visited = torch.cat(seen)
    assert len(visited) == 30 and set(visited.tolist()) <= {2.0, 7.0}
