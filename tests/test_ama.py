"""Behaviour of AMA, the adversarial mirrored autoencoder (Somepalli et al., UAI 2021)."""

import math
import pickle

import numpy as np
import pytest
import torch
from scipy.stats import norm

from skdeepad import AMA
from skdeepad._ama import (
    atypical_latents,
    autoencoder_loss,
    critic_loss,
    gradient_penalty,
    mirror_pairs,
    r_score,
    simplex_weights,
)
from skdeepad.networks import AMAConvCritic, AMAMLPCritic, make_ama_networks

FAST = dict(epochs=3, n_critic=1, batch_size=32, device="cpu", random_state=0)
TINY_CONV = dict(network__width=1 / 32, latent_dim=8)


def _images(n=16, side=8, seed=0):
    rng = np.random.RandomState(seed)
    return np.clip(rng.rand(n, 1, side, side) * 2 - 1, -1, 1).astype(np.float32)


class _RecordingCritic(AMAMLPCritic):
    """A default tabular critic that records the shapes of its inputs."""

    shapes = []

    def forward(self, pair):
        type(self).shapes.append(tuple(pair.shape))
        return super().forward(pair)


# ----------------------------------------------------------------- losses
def test_mirror_pairs_stack_on_the_channel_axis():
    """[a, b] of (n, C, H, W) images is (n, 2C, H, W) with a first, then b."""
    a, b = torch.zeros(4, 3, 5, 5), torch.ones(4, 3, 5, 5)
    pair = mirror_pairs(a, b)
    assert pair.shape == (4, 6, 5, 5)
    assert torch.equal(pair[:, :3], a) and torch.equal(pair[:, 3:], b)


def test_critic_sees_channel_stacked_pairs_in_fit():
    """During fit the critic gets 2p-wide mirror pairs; without mirroring, p-wide inputs."""
    X = np.random.RandomState(0).randn(64, 3)
    _RecordingCritic.shapes = []
    AMA(network={"critic": lambda shape: _RecordingCritic(shape[0], (8,))}, **FAST).fit(X)
    assert {s[1] for s in _RecordingCritic.shapes} == {6}
    _RecordingCritic.shapes = []
    AMA(network={"critic": lambda shape: _RecordingCritic(shape[0], (8,))}, mirrored=False,
        **FAST).fit(X)
    assert {s[1] for s in _RecordingCritic.shapes} == {3}


def test_conv_critic_input_has_twice_the_image_channels():
    """The default image critic takes 2C channels and the generator returns the input size."""
    E, G, D = make_ama_networks((1, 28, 28), 8, critic_channels=2, width=1 / 32, pad_value=-1.0)
    assert D.blocks[0].conv1.layer.in_channels == 2
    x = torch.rand(3, 1, 28, 28)
    assert E(x).shape == (3, 8)
    assert G(E(x)).shape == x.shape
    assert D(mirror_pairs(x, G(E(x)))).shape == (3,)


def _linear_critic(w):
    return lambda t: t.flatten(1) @ w


def test_gradient_penalty_is_zero_for_a_1_lipschitz_linear_critic():
    """A linear critic with a unit weight vector has gradient norm 1 everywhere: penalty 0."""
    torch.manual_seed(0)
    real, fake = torch.randn(8, 2, 3, 3), torch.randn(8, 2, 3, 3)
    w = torch.randn(18)
    penalty = gradient_penalty(_linear_critic(w / w.norm()), real, fake)
    assert penalty.item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_is_positive_otherwise():
    """Gradient norm 2 gives (2 - 1)^2 = 1; the code's per-channel norm penalises a unit critic."""
    torch.manual_seed(0)
    real, fake = torch.randn(8, 2, 3, 3), torch.randn(8, 2, 3, 3)
    w = torch.randn(18)
    assert gradient_penalty(_linear_critic(2 * w / w.norm()), real, fake).item() == (
        pytest.approx(1.0, rel=1e-5))
    # per-pixel norms of a unit weight spread over 9 pixels are ~1/3, not 1
    assert gradient_penalty(_linear_critic(w / w.norm()), real, fake, norm="channel") > 0.1


def test_critic_and_autoencoder_losses_follow_the_weights():
    """Normal pairs (w=1) and negatives (w=-lambda_neg) push the critic in opposite directions."""
    d_real, d_fake = torch.tensor([2.0, 2.0]), torch.tensor([1.0, 0.0])
    w = torch.tensor([1.0, -5.0])
    assert critic_loss(d_real, d_fake, w).item() == pytest.approx(-(2 - 10) / 2 + (1 - 0) / 2)
    codes = torch.tensor([[3.0, 4.0], [30.0, 40.0]])
    normal = torch.tensor([True, False])
    # the code norm counts the normal rows only: ||(3, 4)|| = 5
    assert autoencoder_loss(d_fake, w, codes, normal, 2.0).item() == pytest.approx(
        -(1 - 0) / 2 + 2 * 5)


def test_r_score_is_the_l1_feature_distance():
    """R = ||f(x, x) - f(x, x_hat)||_1 per sample (Eq. 5)."""
    f1, f2 = torch.tensor([[1.0, -2.0], [0.0, 0.0]]), torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    assert r_score(f1, f2).tolist() == [4.0, 1.0]


@pytest.mark.parametrize("direction", ["inward", "outward"])
def test_annulus_negatives_lie_in_the_configured_shell(direction):
    """Atypical Selection draws radii in [r0(1 - delta), r0] (inward) or [r0, r0(1 + delta)]."""
    torch.manual_seed(0)
    codes = torch.randn(2000, 16)
    radii = atypical_latents(codes, "annulus", direction=direction, delta=0.25).norm(dim=1)
    r0 = math.sqrt(16)
    lo, hi = (0.75 * r0, r0) if direction == "inward" else (r0, 1.25 * r0)
    assert radii.min() >= lo - 1e-5 and radii.max() <= hi + 1e-5
    assert radii.max() - radii.min() > 0.8 * (hi - lo)  # the whole shell is used
    custom = atypical_latents(codes, "annulus", direction=direction, radius=2.0, delta=0.5)
    assert custom.norm(dim=1).min() >= (1.0 if direction == "inward" else 2.0) - 1e-5


def test_radial_scale_and_cube_negatives():
    """The code's radial rescaling shrinks codes below half (inward) or grows them past 2x."""
    torch.manual_seed(0)
    codes = torch.randn(500, 8) + 3
    inward = atypical_latents(codes, "radial_scale", direction="inward")
    outward = atypical_latents(codes, "radial_scale", direction="outward")
    ratio_in = inward.norm(dim=1) / codes.norm(dim=1)
    assert ratio_in.max() < 0.5 and ratio_in.min() > 0
    assert (outward.norm(dim=1) / codes.norm(dim=1)).min() > 2
    # directions are kept (a radial rescaling)
    cos = torch.nn.functional.cosine_similarity(inward, codes)
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)
    cube = atypical_latents(codes, "cube")
    assert cube.min() >= 0 and cube.max() <= codes.abs().min()


def test_simplex_weights_paper_and_code():
    """Paper: normalised U[0, .5] weights; code: last weight = 1 - sum of the others."""
    torch.manual_seed(0)
    w = simplex_weights(1000, 3, "normalized")
    assert torch.allclose(w.sum(1), torch.ones(1000)) and w.min() >= 0
    c = simplex_weights(1000, 3, "code")
    assert torch.allclose(c.sum(1), torch.ones(1000))
    assert c[:, :2].max() <= 0.5 and c[:, 2].min() >= 0 and c[:, 2].mean() > 0.4


# -------------------------------------------------------------- estimator
def test_score_samples_is_the_log_gaussian_density_of_r(blobs):
    """score_samples = log N(R; mu, sigma) with mu, sigma the MLE on the training R."""
    X, _ = blobs
    det = AMA(**FAST).fit(X)
    r_train = det.r_score(X)
    assert det.r_mean_ == pytest.approx(r_train.mean(), rel=1e-5)
    assert det.r_std_ == pytest.approx(r_train.std(), rel=1e-4)
    X_new = X[:20] + 0.3
    expected = norm.logpdf(det.r_score(X_new), det.r_mean_, det.r_std_)
    np.testing.assert_allclose(det.score_samples(X_new), expected, rtol=1e-6)


def test_score_samples_finite_far_from_the_training_data(blobs):
    """The log A-score does not underflow to -inf for points far away."""
    X, _ = blobs
    det = AMA(**FAST).fit(X)
    far = np.full((3, X.shape[1]), 1e4) * np.array([[1], [-1], [10]])
    scores = det.score_samples(far)
    assert np.all(np.isfinite(scores))
    assert scores.max() < det.score_samples(X).min()
    assert np.all(det.predict(far) == -1)


def test_negatives_start_at_neg_start_epoch():
    """No synthetic negatives before neg_start_epoch, then int(neg_fraction * B) draws per batch.

    Positions are drawn with replacement (the authors' code), so a batch holds
    at most that many distinct negative rows.
    """
    X = np.random.RandomState(0).randn(64, 4)
    det = AMA(epochs=4, n_critic=1, batch_size=32, neg_start_epoch=2, neg_fraction=0.25,
              device="cpu", random_state=0).fit(X)
    counts = [h["negatives"] for h in det.history_]
    assert counts[:2] == [0, 0] and all(8 < c <= 16 for c in counts[2:])
    det = AMA(epochs=3, n_critic=1, batch_size=32, neg_start_epoch=0,
              negatives=None, device="cpu", random_state=0).fit(X)
    assert all(h["negatives"] == 0 for h in det.history_)


def test_labeled_anomalies_replace_synthetic_negatives_and_change_the_fit():
    """y == -1 rows are the negatives (no synthetic ones) and change the learned scores."""
    rng = np.random.RandomState(0)
    X = np.r_[rng.randn(120, 4), rng.randn(8, 4) * 0.3 + 3]
    y = np.r_[np.zeros(120), -np.ones(8)]
    params = dict(epochs=6, n_critic=2, batch_size=32, neg_start_epoch=0, device="cpu",
                  random_state=0)
    unsup = AMA(**params).fit(X)
    semi = AMA(**params).fit(X, y)
    assert all(h["negatives"] == 8 for h in semi.history_)  # every labeled row, every epoch
    assert 0 < unsup.history_[0]["negatives"] <= 4 * int(0.1 * 32)  # synthetic ones instead
    assert not np.allclose(unsup.score_samples(X), semi.score_samples(X))
    # the Gaussian of the A-score is fitted on the rows not labeled -1
    np.testing.assert_allclose(semi.r_mean_, semi.r_score(X[:120]).mean(), rtol=1e-5)


def test_fit_is_reproducible(blobs):
    """The same random_state gives the same scores bit for bit on the CPU."""
    X, _ = blobs
    a = AMA(**FAST).fit(X).score_samples(X)
    b = AMA(**FAST).fit(X).score_samples(X)
    np.testing.assert_array_equal(a, b)


def test_pickle_round_trip_keeps_scores():
    """A pickled and unpickled AMA (spectral-normalised critic included) scores alike."""
    X = _images()
    det = AMA(**{**FAST, "epochs": 1}, **TINY_CONV).fit(X)
    clone = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(clone.score_samples(X), det.score_samples(X))
    np.testing.assert_array_equal(clone.r_score(X), det.r_score(X))


def test_images_flattened_with_input_shape():
    """Small images (8x8, padded to 32 inside) fit flattened with input_shape, or as 4-D."""
    X = _images()
    params = {**FAST, **TINY_CONV, "epochs": 1}
    flat = AMA(**params, input_shape=(1, 8, 8)).fit(X.reshape(len(X), -1))
    full = AMA(**params).fit(X)
    assert isinstance(full.critic_, AMAConvCritic)
    np.testing.assert_allclose(flat.score_samples(X.reshape(len(X), -1)),
                               full.score_samples(X), rtol=1e-5)


def test_validation_loss_is_recorded():
    """validation_fraction records the held-out mirrored Wasserstein estimate each epoch."""
    X = np.random.RandomState(0).randn(80, 4)
    det = AMA(**FAST, validation_fraction=0.25).fit(X)
    assert all(np.isfinite(h["valid_loss"]) for h in det.history_)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_critic": 0}, "n_critic"),
        ({"lambda_neg": -1.0}, "lambda_neg"),
        ({"lambda_reg": -0.1}, "lambda_reg"),
        ({"lambda_inter": -2}, "lambda_inter"),
        ({"gp_weight": -1}, "gp_weight"),
        ({"negatives": "sphere"}, "negatives"),
        ({"variant": "both"}, "variant"),
        ({"network": {"decoder": None}}, "decoder"),
        ({"neg_fraction": 1.5}, "neg_fraction"),
    ],
)
def test_bad_parameters_raise(params, match):
    """Invalid hyperparameters are rejected with the parameter's name."""
    with pytest.raises(ValueError, match=match):
        AMA(**params).fit(np.random.RandomState(0).randn(20, 3))


@pytest.mark.parametrize("shape", [(1, 40, 40), (1, 16, 24), (2, 4, 4, 4)])
def test_unsupported_image_size_raises(shape):
    """Images that are not square or larger than 32x32 need user networks."""
    X = np.random.RandomState(0).rand(4, *shape)
    with pytest.raises(ValueError, match="square images"):
        AMA(**FAST).fit(X)


def test_critic_without_features_is_rejected():
    """A user critic must expose features() for the R-score."""
    critic = torch.nn.Sequential(torch.nn.Linear(6, 1))
    with pytest.raises(TypeError, match="features"):
        AMA(network={"critic": critic}, **FAST).fit(np.random.RandomState(0).randn(20, 3))


# ---------------------------------------------- every parameter has an effect
def _record(monkeypatch, name):
    """Wrap skdeepad._ama.<name> so that each call's arguments are recorded."""
    import skdeepad._ama as ama

    calls, original = [], getattr(ama, name)

    def wrapper(*args, **kwargs):
        calls.append((args, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(ama, name, wrapper)
    return calls


ONE_BATCH = dict(epochs=1, batch_size=64, device="cpu", random_state=0)


def test_latent_dim_and_hidden_layer_sizes_shape_the_default_networks():
    """latent_dim sets the code size, hidden_layer_sizes the MLP layers of E, G and D."""
    X = np.random.RandomState(0).randn(64, 6)
    det = AMA(latent_dim=5, hidden_layer_sizes=(12, 7), **FAST).fit(X)
    assert det.latent_dim_ == 5 and det.hidden_layer_sizes_ == (12, 7)
    assert det.encoder_(torch.zeros(2, 6)).shape == (2, 5)
    for net in (det.encoder_, det.generator_):
        widths = [m.out_features for m in net.modules() if isinstance(m, torch.nn.Linear)]
        assert 12 in widths and 7 in widths


def test_network_width_is_routed_to_the_convolutional_family():
    """network__width multiplies the channels of the default image networks."""
    X = _images()
    channels = []
    for width in (1 / 32, 1 / 16):
        det = AMA(**{**FAST, "epochs": 1, "latent_dim": 8, "network__width": width}).fit(X)
        first = next(m for m in det.encoder_.modules() if isinstance(m, torch.nn.Conv2d))
        channels.append(first.out_channels)
    assert channels == [2, 4]  # 64 * width


def test_network_dict_and_routing_errors():
    """Unknown keys of `network`, and network__ arguments AMA sets itself, are refused."""
    X = np.random.RandomState(0).randn(20, 3)
    with pytest.raises(ValueError, match="latent_dim"):
        AMA(network__latent_dim=4, **FAST).fit(X)
    with pytest.raises(ValueError, match="Did you mean 'network__width'"):
        AMA(network__widht=0.5, **FAST).fit(X)
    E, G, D = make_ama_networks((3,), 4, critic_channels=2, hidden_layer_sizes=(8,))
    with pytest.raises(ValueError, match="gives all three"):
        AMA(network={"encoder": E, "generator": G, "critic": D}, network__width=0.5,
            **FAST).fit(X)
    det = AMA(network={"encoder": E, "generator": G, "critic": D}, **FAST).fit(X)
    assert det.encoder_ is not E and det.latent_dim_ == 4  # copies, never the user's object


@pytest.mark.parametrize("n_critic", [1, 3])
def test_n_critic_critic_steps_per_generator_step(monkeypatch, n_critic):
    """One batch, no interpolation: critic_loss is evaluated n_critic times."""
    calls = _record(monkeypatch, "critic_loss")
    X = np.random.RandomState(0).randn(64, 3)
    AMA(n_critic=n_critic, lambda_inter=0.0, **ONE_BATCH).fit(X)
    assert len(calls) == n_critic


@pytest.mark.parametrize("gp_weight, variant, expected", [
    (10.0, "paper", ["sample"]), (10.0, "code", ["channel"]), (0.0, "paper", [])])
def test_gp_weight_and_variant_choose_the_penalty(monkeypatch, gp_weight, variant, expected):
    """The penalty is skipped at gp_weight=0; its norm is per sample (paper) or per pixel (code)."""
    calls = _record(monkeypatch, "gradient_penalty")
    X = np.random.RandomState(0).randn(64, 3)
    AMA(n_critic=1, gp_weight=gp_weight, variant=variant, **ONE_BATCH).fit(X)
    assert [args[3] for args, _ in calls] == expected


@pytest.mark.parametrize("variant, kinds", [("paper", ["normalized"] * 2), ("code", ["code"])])
def test_variant_chooses_the_interpolation(monkeypatch, variant, kinds):
    """Paper: normalised weights, interpolants also in the E+G step; code: unnormalised,
    interpolants for the critic only (detached in the code's E+G loss)."""
    calls = _record(monkeypatch, "simplex_weights")
    X = np.random.RandomState(0).randn(64, 3)
    AMA(n_critic=1, variant=variant, **ONE_BATCH).fit(X)
    assert [args[2] for args, _ in calls] == kinds


def test_lambda_inter_zero_disables_the_interpolation(monkeypatch):
    calls = _record(monkeypatch, "simplex_weights")
    AMA(n_critic=1, lambda_inter=0.0, **ONE_BATCH).fit(np.random.RandomState(0).randn(64, 3))
    assert calls == []


def test_lambda_neg_weights_the_negatives(monkeypatch):
    """Negatives enter the critic loss with weight -lambda_neg, normal rows with +1."""
    calls = _record(monkeypatch, "critic_loss")
    X = np.random.RandomState(0).randn(64, 3)
    AMA(n_critic=1, lambda_neg=2.5, lambda_inter=0.0, neg_start_epoch=0,
        neg_fraction=0.25, **ONE_BATCH).fit(X)
    (args, _), = calls
    assert set(args[2].tolist()) == {1.0, -2.5}


def test_lambda_reg_shrinks_the_codes():
    """A larger weight of ||E(x)|| (Eq. 3) gives codes of smaller norm."""
    X = np.random.RandomState(0).randn(64, 4)
    params = dict(epochs=5, n_critic=1, batch_size=32, lr=1e-3, device="cpu", random_state=0)
    free = AMA(lambda_reg=0.0, **params).fit(X).history_[-1]["code_norm"]
    pulled = AMA(lambda_reg=10.0, **params).fit(X).history_[-1]["code_norm"]
    assert pulled < 0.9 * free


@pytest.mark.parametrize("negatives, variant, method", [
    ("inward", "paper", "annulus"), ("outward", "paper", "annulus"),
    ("outward", "code", "radial_scale")])
def test_negatives_and_variant_choose_the_atypical_region(monkeypatch, negatives, variant,
                                                          method):
    """The side of the typical set comes from `negatives`, the region from `variant`."""
    calls = _record(monkeypatch, "atypical_latents")
    X = np.random.RandomState(0).randn(64, 3)
    AMA(n_critic=1, negatives=negatives, variant=variant, neg_start_epoch=0,
        **ONE_BATCH).fit(X)
    assert calls and all(kw == {"method": method, "direction": negatives} for _, kw in calls)


def test_negatives_callable_draws_the_latents():
    """A callable gets the codes of the replaced rows and must return one latent each."""
    seen = []

    def at_origin(codes):
        seen.append(tuple(codes.shape))
        return torch.zeros_like(codes)

    X = np.random.RandomState(0).randn(64, 3)
    det = AMA(n_critic=1, negatives=at_origin, neg_start_epoch=0, neg_fraction=0.25,
              latent_dim=4, **ONE_BATCH).fit(X)
    assert seen == [(16, 4)] and det.history_[0]["negatives"] > 0
    with pytest.raises(ValueError, match="one latent per code"):
        AMA(n_critic=1, negatives=lambda codes: codes[:1], neg_start_epoch=0,
            **ONE_BATCH).fit(X)


def test_annulus_around_the_empirical_code_norm():
    """radius="empirical" centres the annulus on the codes' mean norm."""
    torch.manual_seed(0)
    codes = 3 * torch.randn(500, 4)
    r0 = float(codes.norm(dim=1).mean())
    radii = atypical_latents(codes, "annulus", radius="empirical", delta=0.5).norm(dim=1)
    assert radii.min() >= r0 / 2 - 1e-4 and radii.max() <= r0 + 1e-4


def test_adam_betas_default_per_network_and_optimizer_betas_override(monkeypatch):
    """The code's betas per network (E 0.5, G and D 0); optimizer__betas sets all three."""
    import skdeepad.base as base

    made = []

    def recording(*args, **kwargs):
        made.append(base_make(*args, **kwargs))
        return made[-1]

    base_make = base.make_optimizer
    monkeypatch.setattr(base, "make_optimizer", recording)
    X = np.random.RandomState(0).randn(64, 3)
    AMA(n_critic=1, **ONE_BATCH).fit(X)
    assert [g["betas"] for g in made[-1].param_groups] == [(0.5, 0.9), (0.0, 0.9), (0.0, 0.9)]
    AMA(n_critic=1, optimizer__betas=(0.3, 0.8), **ONE_BATCH).fit(X)
    assert [g["betas"] for g in made[-1].param_groups] == [(0.3, 0.8)] * 3
