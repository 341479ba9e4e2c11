"""Behaviour of DROCC, DROCC-OE and DROCC-LF (Goyal et al., ICML 2020)."""

import warnings

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from skdeepad import DROCC, DROCCLF
from skdeepad.utils import as_partial_labels
from skdeepad._stacked import stack_modules
from skdeepad._drocc import (
    adversarial_search,
    drocc_loss,
    gradient_sigma,
    mahalanobis_norm,
    project_annulus,
    project_mahalanobis,
)
from skdeepad.datasets import (
    make_drocc_split,
    make_half_normal_split,
    make_noisy_sine,
    make_sine_manifold,
    make_sphere_manifold,
)
from skdeepad.metrics import anomaly_ratio_f1_score, drocc_f1_score
from skdeepad.networks import DROCCLSTM, DROCCMLP, DROCCLeNet
from skdeepad.networks._batchnorm import batch_norm_momentum

FAST = dict(epochs=6, only_ce_epochs=2, ascent_num_steps=3, batch_size=32,
            device="cpu", random_state=0)


def _perturbations(seed=0):
    """Perturbations whose norms span far inside to far outside the annulus."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(200, 3, 4, generator=g)
    return h * torch.logspace(-3, 2, 200)[:, None, None]


def _mlp(d=4, seed=0):
    torch.manual_seed(seed)
    return DROCCMLP(d, (16,))


def test_projection_keeps_every_perturbation_in_the_annulus():
    """After project_annulus, r <= ||h|| <= gamma r for every sample, direction kept."""
    h = _perturbations()
    for radius, gamma in [(1.0, 2.0), (3.0, 1.0), (0.5, 4.0)]:
        p = project_annulus(h, radius, gamma)
        norms = p.flatten(1).norm(dim=1)
        assert torch.all(norms >= radius * (1 - 1e-5))
        assert torch.all(norms <= gamma * radius * (1 + 1e-5))
        cos = F.cosine_similarity(p.flatten(1), h.flatten(1), dim=1)
        torch.testing.assert_close(cos, torch.ones_like(cos))
        inside = (h.flatten(1).norm(dim=1) >= radius) & (h.flatten(1).norm(dim=1) <= gamma * radius)
        torch.testing.assert_close(p[inside], h[inside])


def test_mahalanobis_projection_is_feasible_and_no_farther_than_radial_scaling():
    """Proposition 1's projection lands in the sigma-annulus, at least as close as rescaling h."""
    h = _perturbations(1)
    g = torch.Generator().manual_seed(2)
    sigma = torch.rand(h.shape, generator=g) ** 2
    sigma = sigma / sigma.flatten(1).mean(1)[:, None, None]
    radius, gamma = 2.0, 2.0
    p = project_mahalanobis(h, sigma, radius, gamma)
    dist, new = mahalanobis_norm(h, sigma), mahalanobis_norm(p, sigma)
    assert torch.all(new >= radius * (1 - 1e-3)) and torch.all(new <= gamma * radius * (1 + 1e-3))
    target = dist.clamp(radius, gamma * radius)
    radial = h * (target / dist)[:, None, None]  # feasible too, but not the nearest point
    moved = (p - h).flatten(1).norm(dim=1)
    assert torch.all(moved <= (radial - h).flatten(1).norm(dim=1) * (1 + 1e-3) + 1e-6)
    inside = (dist >= radius) & (dist <= gamma * radius)
    assert inside.any()
    torch.testing.assert_close(p[inside], h[inside])


def test_mahalanobis_projection_ignores_coordinates_with_zero_weight():
    """Coordinates with sigma_j = 0 cost nothing: kept as they are, and never NaN."""
    h = torch.tensor([[30.0, 5.0, -7.0], [0.01, 3.0, 0.0]])
    sigma = torch.tensor([[1.5, 1.5, 0.0], [3.0, 0.0, 0.0]])
    p = project_mahalanobis(h, sigma, 1.0, 2.0)
    assert torch.isfinite(p).all()
    assert p[0, 2] == h[0, 2] and p[1, 1] == h[1, 1]
    dist = mahalanobis_norm(p, sigma)
    assert torch.all(dist >= 1.0 - 1e-3) and torch.all(dist <= 2.0 + 1e-3)


def test_ascent_increases_the_negative_label_loss():
    """The search finds points the network calls more normal than random points of the annulus."""
    net = _mlp()
    x = torch.randn(128, 4, generator=torch.Generator().manual_seed(3))

    def negative_loss(z):
        logits = net(z)
        return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits)).item()

    def search(n_steps, project):
        torch.manual_seed(0)  # the same initial noise for both
        return adversarial_search(net, x, project, step_size=0.05, n_steps=n_steps,
                                  project_every=10)

    identity = lambda h: h
    assert negative_loss(search(20, identity)) > negative_loss(search(0, identity)) + 0.01
    annulus = lambda h: project_annulus(h, 1.0, 2.0)
    assert negative_loss(search(20, annulus)) > negative_loss(search(0, annulus)) + 0.01


def test_search_leaves_parameters_untouched_and_batch_norm_statistics_frozen():
    """Only h gets gradients; adversarial forward passes do not move BatchNorm's running stats."""
    torch.manual_seed(0)
    net = DROCCLeNet((1, 28, 28)).train()
    x = torch.randn(8, 1, 28, 28)
    stats = {k: v.clone() for k, v in net.state_dict().items()}
    with batch_norm_momentum(net, 0.0):
        adversarial_search(net, x, lambda h: project_annulus(h, 5.0, 2.0), step_size=0.1,
                           n_steps=3, project_every=10)
    assert all(p.grad is None for p in net.parameters())
    for key, value in net.state_dict().items():
        if "num_batches" not in key:
            torch.testing.assert_close(value, stats[key], rtol=0, atol=0)
    net(x)  # outside the context the statistics move again
    assert not torch.equal(net.state_dict()["encoder.net.1.running_mean"],
                           stats["encoder.net.1.running_mean"])


def test_drocc_loss_is_ce_plus_lamda_times_negative_ce():
    """l = CE(f(x), y) + lamda * CE(f(x + h), 0), each averaged over its samples."""
    logits, targets = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 1.0])
    adv = torch.tensor([0.3, -0.7])
    expected = (F.softplus(-logits[0]) + F.softplus(logits[1]) + F.softplus(-logits[2])) / 3
    expected += 0.5 * F.softplus(adv).mean()
    assert drocc_loss(logits, targets, adv, 0.5).item() == pytest.approx(expected.item())


def test_gradient_sigma_has_mean_one_and_follows_the_input_gradient():
    """sigma_j = |df/dx_j| normalised to mean 1 per sample; a linear f gives |w| / mean |w|."""
    lin = torch.nn.Linear(4, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -3.0, 0.0, 4.0]]))
    sigma = gradient_sigma(lambda z: lin(z).squeeze(1), torch.randn(5, 4))
    torch.testing.assert_close(sigma, torch.tensor([0.5, 1.5, 0.0, 2.0]).expand(5, 4))


def test_users_line_works_exactly_as_written():
    """``DROCC(radius=8).fit(X)`` with every default: points at distance 8-16 score below the data."""
    X = np.random.RandomState(0).randn(400, 4)
    det = DROCC(radius=8).fit(X)
    scores = det.score_samples(X)
    assert scores.shape == (400,) and np.all(np.isfinite(scores))
    assert set(np.unique(det.predict(X))) == {-1, 1}
    assert det.lr_milestones_ == (31, 61, 91) and len(det.history_) == 100
    directions = np.random.RandomState(1).randn(50, 4)
    shell = 12 * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    # The line has no random_state, so each run is another fit: the bounds
    # leave room for an odd direction the negatives did not reach.
    assert np.all(det.predict(shell) == -1)
    assert np.mean(det.score_samples(shell) < np.min(scores)) >= 0.9


def test_defaults_are_the_measured_ones_and_the_papers_stay_reachable():
    """No warm-up, steps of a tenth of each negative's radius, far annuli up to 16x
    (the "Defaults and their sources" page); the paper's configuration as parameters."""
    params = DROCC().get_params()
    assert (params["only_ce_epochs"], params["ascent_step_size"], params["far_scale"]) == (
        0, "auto", 16.0)
    radius, step = DROCC._radii_and_steps(_stack_of(DROCC(radius=2.0)), 6)
    torch.testing.assert_close(step, radius / 10)
    assert torch.all(radius[::2] == 2.0) and torch.all((radius >= 2.0) & (radius <= 32.0))
    assert torch.any(radius[1::2] > 2.0)
    paper = DROCC(radius=2.0, ascent_step_size=0.01, far_scale=1.0)
    radius, step = DROCC._radii_and_steps(_stack_of(paper), 6)
    assert torch.all(step == 0.01) and torch.all(radius == 2.0)


def _stack_of(est):
    """A stand-in for the trainer's stack of one member (what _radii_and_steps reads)."""
    generator = torch.Generator().manual_seed(0)
    return SimpleNamespace(
        K=1, first=est, param=lambda value: torch.tensor([[float(value(est))]]),
        rand=lambda shape: torch.rand((1, *shape), generator=generator),
        randn=lambda shape: torch.randn((1, *shape), generator=generator))


def _negatives(det, x):
    """The fitted detector's adversarial negatives around the rows of ``x``."""
    return type(det)._negatives(_stack_of(det), stack_modules([det.network_]), x[None])[0]


def test_points_far_outside_the_data_score_below_every_training_point():
    """At its defaults DROCC never ranks far points as more normal than the data.

    Probe points on rays from the training mean, at the data's extent plus 2,
    4, 8 and 32 radii, along the principal directions (both signs) and 100
    random ones, all score below the lowest training score.  (The paper's
    configuration -- 50 warm-up epochs, ascent step 0.01, one annulus -- fails
    this on such data: its logit grows with the distance from the data.)
    """
    rng = np.random.RandomState(0)
    X = rng.randn(300, 5) @ np.diag([3, 2, 1, 0.5, 0.3])
    X = (X - X.mean(0)) / X.std(0)
    det = DROCC(device="cpu", random_state=0).fit(X)
    mean = X.mean(0)
    extent = np.linalg.norm(X - mean, axis=1).max()
    _, _, vt = np.linalg.svd(X - mean)
    random = rng.randn(100, 5)
    directions = np.r_[vt, -vt, random / np.linalg.norm(random, axis=1, keepdims=True)]
    lowest = det.score_samples(X).min()
    for k in (2, 4, 8, 32):
        probes = mean + (extent + k * det.radius) * directions
        assert np.all(det.score_samples(probes) < lowest), k
        assert np.all(det.predict(probes) == -1), k


def test_drocc_separates_an_obvious_anomaly():
    """A point far from the training data gets a lower score than the data."""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 2)
    det = DROCC(radius=1.0, epochs=30, only_ce_epochs=5, ascent_num_steps=5, lr=1e-2,
                device="cpu", random_state=0).fit(X)
    X_test = np.r_[rng.randn(100, 2), rng.randn(100, 2) + 6]
    assert roc_auc_score(np.r_[np.zeros(100), np.ones(100)], -det.score_samples(X_test)) > 0.95


def _oe_task():
    rng = np.random.RandomState(0)
    X = np.r_[rng.randn(300, 2), rng.randn(30, 2) * 0.3 + [1.5, 1.5]]
    y = np.r_[np.zeros(300), -np.ones(30)]
    return X, y


@pytest.mark.parametrize("cls", [DROCC, DROCCLF])
def test_labeled_negatives_change_the_fit(cls):
    """DROCC-OE/LF: known negatives (y == -1) are pushed below the normals."""
    X, y = _oe_task()
    params = dict(FAST, epochs=20, lr=1e-2, radius=2.0)
    plain = cls(**params).fit(X)
    oe = cls(**params).fit(X, y)
    neg, pos = y == -1, y == 0
    gap_plain = np.median(plain.score_samples(X[pos])) - np.median(plain.score_samples(X[neg]))
    gap_oe = np.median(oe.score_samples(X[pos])) - np.median(oe.score_samples(X[neg]))
    assert gap_oe > gap_plain + 1.0
    auc_plain = roc_auc_score(neg, -plain.score_samples(X))
    assert roc_auc_score(neg, -oe.score_samples(X)) > max(0.85, auc_plain + 0.15)


def test_unlabeled_and_known_normals_are_the_same():
    """y == 0 and y == +1 are both normal: identical fits."""
    X, _ = _oe_task()
    a = DROCC(**FAST).fit(X, np.zeros(len(X)))
    b = DROCC(**FAST).fit(X, as_partial_labels(np.ones(len(X))))
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


def test_fit_is_reproducible_and_leaves_global_rng_alone():
    """Same random_state, same scores; the caller's torch RNG is not advanced."""
    X, _ = _oe_task()
    state = torch.random.get_rng_state()
    a = DROCCLF(**FAST).fit(X).score_samples(X)
    assert torch.equal(state, torch.random.get_rng_state())
    np.testing.assert_array_equal(a, DROCCLF(**FAST).fit(X).score_samples(X))


@pytest.mark.parametrize("params, match", [
    (dict(radius=0.0), "radius"),
    (dict(radius=-1.0), "radius"),
    (dict(gamma=0.5), "gamma"),
    (dict(lamda=0.0), "lamda"),
    (dict(ascent_step_size=0.0), "ascent_step_size"),
    (dict(ascent_num_steps=-1), "ascent_num_steps"),
    (dict(lr_milestones="sometimes"), "lr_milestones"),
])
def test_bad_parameters_raise_clear_errors(params, match):
    """radius <= 0, gamma < 1 and the like raise a ValueError naming the parameter."""
    X = np.random.RandomState(0).randn(20, 3)
    with pytest.raises(ValueError, match=match):
        DROCC(**params).fit(X)


def test_no_adversarial_epoch_warns():
    """only_ce_epochs >= epochs would train a one-class classifier with no negatives: warn."""
    X = np.random.RandomState(0).randn(20, 3)
    with pytest.warns(UserWarning, match="only_ce_epochs"):
        DROCC(epochs=2, only_ce_epochs=2, device="cpu").fit(X)


def test_auto_schedule_follows_the_reference_examples():
    """lr / 10 after 0.3, 0.6, 0.9 of the adversarial epochs (tabular), 0.5 (sequences)."""
    X = np.random.RandomState(0).randn(40, 6)
    det = DROCC(epochs=20, only_ce_epochs=10, ascent_num_steps=1, lr=1e-2,
                device="cpu").fit(X)
    assert det.lr_milestones_ == (14, 17, 20)[:2]
    lrs = [r["lr"] for r in det.history_]
    assert lrs[13] == pytest.approx(1e-2) and lrs[14] == pytest.approx(1e-3)
    seq = DROCC(epochs=20, only_ce_epochs=10, ascent_num_steps=1, input_shape=(3, 2),
                device="cpu").fit(X)
    assert seq.lr_milestones_ == (16,)
    assert DROCC(lr_milestones=None, **FAST).fit(X).lr_milestones_ == ()


def test_default_networks_follow_the_input_shape():
    """MLP for tables, LeNet CNN + linear head for images, LSTM for (T, d) sequences."""
    rng = np.random.RandomState(0)
    tab = DROCC(**FAST).fit(rng.randn(40, 5))
    assert isinstance(tab.network_, DROCCMLP) and tab.hidden_layer_sizes_ == (128,)
    img = DROCC(**dict(FAST, epochs=3)).fit(rng.rand(16, 1, 28, 28))
    assert isinstance(img.network_, DROCCLeNet)
    seq3d = rng.randn(24, 7, 3)
    a = DROCC(**FAST).fit(seq3d)
    b = DROCC(input_shape=(7, 3), **FAST).fit(seq3d.reshape(24, -1))
    assert isinstance(a.network_, DROCCLSTM)
    np.testing.assert_allclose(a.score_samples(seq3d), b.score_samples(seq3d.reshape(24, -1)),
                               rtol=1e-5)


@pytest.mark.parametrize("far_scale", [1.0, 16.0])
def test_lf_negatives_live_in_the_mahalanobis_annulus(far_scale):
    """DROCC-LF's negatives satisfy r <= ||h||_sigma <= gamma r for every second
    row, and r s <= ||h||_sigma <= gamma r s with s in [1, far_scale] for the others."""
    det = DROCCLF(radius=1.5, gamma=2.0, ascent_num_steps=7, far_scale=far_scale, **{
        k: v for k, v in FAST.items() if k != "ascent_num_steps"}).fit(
            np.random.RandomState(0).randn(60, 6))
    x = torch.randn(32, 6)
    det.network_.train()
    torch.manual_seed(0)
    negatives = _negatives(det, x)
    torch.manual_seed(0)
    sigma = gradient_sigma(det._logit, x)
    dist = mahalanobis_norm(negatives - x, sigma)
    tol = 1e-3
    assert torch.all(dist[::2] >= 1.5 * (1 - tol)) and torch.all(dist[::2] <= 3.0 * (1 + tol))
    assert torch.all(dist >= 1.5 * (1 - tol)) and torch.all(dist <= 3.0 * far_scale * (1 + tol))
    if far_scale > 1:
        assert float(dist[1::2].max()) > 6.0  # the far half reaches beyond the paper's annulus


@pytest.mark.parametrize("far_scale", [1.0, 16.0])
def test_negatives_live_in_their_annuli(far_scale):
    """Every second negative lies in the paper's annulus [r, gamma r]; the others in
    [r s, gamma r s], s log-uniform in [1, far_scale]."""
    det = DROCC(radius=1.5, gamma=2.0, far_scale=far_scale, **FAST).fit(
        np.random.RandomState(0).randn(60, 6))
    x = torch.randn(400, 6)
    norms = (_negatives(det, x) - x).norm(dim=1)
    tol = 1e-4
    assert torch.all(norms[::2] >= 1.5 * (1 - tol)) and torch.all(norms[::2] <= 3 * (1 + tol))
    assert torch.all(norms >= 1.5 * (1 - tol)) and torch.all(norms <= 3 * far_scale * (1 + tol))
    if far_scale > 1:  # log-uniform scales: about half of the far rows beyond 4x
        assert 0.3 < float((norms[1::2] > 1.5 * 4).float().mean()) < 0.8


# ------------------------------------------------------------------ data
def test_drocc_split_is_the_authors_protocol():
    """Test = all anomalies + as many normals; train = the other normals, z-scored."""
    rng = np.random.RandomState(0)
    X, y = rng.rand(100, 3) * 5 + 2, np.r_[np.zeros(90), np.ones(10)]
    X_train, X_test, y_test = make_drocc_split(X, y, random_state=0)
    assert len(X_train) == 80 and len(X_test) == 20 and y_test.sum() == 10
    np.testing.assert_allclose(X_train.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(X_train.std(0), 1, atol=1e-3)
    with pytest.raises(ValueError, match="more normals than anomalies"):
        make_drocc_split(X[80:], y[80:])
    with pytest.raises(ValueError, match="1 \\(anomaly\\) and 0 \\(normal\\)"):
        make_drocc_split(X, np.where(y == 1, -1, 1))


def test_half_normal_split_trains_on_half_the_normals():
    """Train = a random half of the normals; test = the other half and every anomaly."""
    rng = np.random.RandomState(0)
    X, y = rng.rand(100, 3), np.r_[np.zeros(90), np.ones(10)]
    X_train, X_test, y_test = make_half_normal_split(X, y, random_state=0)
    assert len(X_train) == 45 and len(X_test) == 55 and y_test.sum() == 10


def test_f1_protocols():
    """Perfect scores: normal-class F1 0.769 on a balanced set (20th-percentile rule), anomaly F1 1."""
    y = np.r_[np.zeros(50), np.ones(50)]
    perfect = -y + np.linspace(0, 0.1, 100)  # normals above anomalies
    assert drocc_f1_score(y, perfect) == pytest.approx(2 * 0.625 / 1.625, abs=1e-3)
    assert anomaly_ratio_f1_score(y, perfect) == 1.0
    random = np.random.RandomState(0).rand(100_000)
    y_big = np.r_[np.zeros(50_000), np.ones(50_000)]
    assert drocc_f1_score(y_big, random) == pytest.approx(2 * 0.5 * 0.8 / 1.3, abs=0.01)
    with pytest.raises(ValueError, match="NaN"):
        drocc_f1_score(y, np.full(100, np.nan))


def test_synthetic_generators():
    """Sine normals on the curve, anomalies displaced; ball volume vs sphere surface."""
    normal, anomalous = make_sine_manifold(200, displacement=0.4, random_state=0)
    np.testing.assert_allclose(normal[:, 1], np.sin(normal[:, 0]))
    np.testing.assert_allclose(np.abs(anomalous[:, 1] - np.sin(anomalous[:, 0])), 0.4)
    inner, outer = make_sphere_manifold(500, n_features=3, radius=1.6, random_state=0)
    assert np.linalg.norm(inner, axis=1).max() <= 1
    assert np.median(np.linalg.norm(inner, axis=1)) > 0.7  # volume, not concentrated at 0
    np.testing.assert_allclose(np.linalg.norm(outer, axis=1), 1.6)
    X = make_noisy_sine(300, random_state=0)
    assert X.shape == (300, 10)
    np.testing.assert_allclose(X[:, 1], np.sin(X[:, 0]))


def test_a_radius_beyond_the_datas_scale_warns_and_standardised_data_does_not():
    """DROCC's radius is in input units: radius 2 on data in [0, 1] puts every
    negative outside the data's extent, and says so; the same data standardised
    (the paper's setting) gives no warning."""
    X = np.random.RandomState(0).rand(80, 5)
    with pytest.warns(UserWarning, match=r"radius=2 is \d+ times the typical distance.*"
                                         r"StandardScaler"):
        DROCC(**FAST).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DROCC(**FAST).fit((X - X.mean(0)) / X.std(0))
