"""Behaviour of ADRA, residual adapters, ResNet26, pretraining and the OE corpus."""

import pickle
import re

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from skdeepad import ADRA
from skdeepad._adra import hsc_loss, l2sp_penalty, pseudo_huber
from skdeepad.datasets import make_outlier_corpus
from skdeepad.datasets._corpus import CORPUS_LETTERS
from skdeepad.networks import (
    ResidualAdapter,
    ResNet26,
    add_residual_adapters,
    sparsemax,
)
from skdeepad.pretraining import pretrain_classifier

TINY = (4, 4, 8)
FAST = dict(epochs=3, lr=0.01, batch_size=16, device="cpu", random_state=0)


def _images(seed=0, n=48, size=8):
    """Dark normal images with a faint bar; bright noisy corpus images."""
    rng = np.random.RandomState(seed)
    normal = 0.1 * rng.rand(n, 1, size, size)
    normal[:, :, size // 2] += 0.5
    corpus = 0.3 + 0.6 * rng.rand(n, 1, size, size)
    return normal.astype(np.float32), corpus.astype(np.float32)


def _fit_data(seed=0, n=48):
    normal, corpus = _images(seed, n)
    return np.concatenate([normal, corpus]), np.r_[np.zeros(n), -np.ones(n)]


@pytest.fixture
def backbone():
    torch.manual_seed(0)
    return ResNet26(in_channels=1, widths=TINY)


def _conv_weights(module):
    return {name: m.weight.detach().clone() for name, m in module.named_modules()
            if isinstance(m, nn.Conv2d)}


# ------------------------------------------------------------------ losses
def test_hsc_loss_pulls_normals_in_and_pushes_corpus_out():
    """A gradient step on Eq. 1 (corrected) shrinks ||f(x)|| of normals and grows it for corpus."""
    z = torch.tensor([[0.8, -0.6], [0.8, -0.6]], requires_grad=True)
    corpus = torch.tensor([0.0, 1.0])
    hsc_loss(pseudo_huber(z), corpus).backward()
    stepped = (z - 0.1 * z.grad).norm(dim=1)
    assert stepped[0] < 1.0 < stepped[1]


def test_printed_equation_1_would_push_the_other_way():
    """The paper's printed Eq. 1 (labels swapped, log sign flipped) pulls the corpus in."""
    z = torch.tensor([[0.8, -0.6]], requires_grad=True)
    h = pseudo_huber(z)
    printed = (1.0 * h + 0.0 * torch.log(1 - torch.exp(-h))).mean()  # y = 1 for corpus
    printed.backward()
    assert (z - 0.1 * z.grad).norm() < 1.0


def test_hsc_loss_is_bce_of_one_minus_exp_and_stays_finite():
    """HSC = BCE with p(anomalous) = 1 - exp(-h); finite at h = 0 and h = 1e4."""
    h = torch.tensor([0.3, 2.0, 0.3, 2.0])
    y = torch.tensor([0.0, 0.0, 1.0, 1.0])
    p = 1 - torch.exp(-h)
    bce = torch.nn.functional.binary_cross_entropy(p, y)
    assert hsc_loss(h, y).item() == pytest.approx(bce.item(), rel=1e-5)
    extreme = hsc_loss(torch.tensor([0.0, 1e4, 0.0, 1e4]), y)
    assert torch.isfinite(extreme)


def test_l2sp_penalty_is_half_alpha_squared_distance():
    """alpha / 2 * ||theta - theta_0||^2 summed over the parameter tensors."""
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])
    value = l2sp_penalty([a, b], [torch.zeros(2), torch.ones(1, 1)], alpha=0.1)
    assert value.item() == pytest.approx(0.05 * (1 + 4 + 4))


# ---------------------------------------------------------------- adapters
@pytest.mark.parametrize("gate", ["softmax", "sparsemax"])
def test_gates_sum_to_one(gate):
    """Per-sample gates are non-negative and sum to one for every layer."""
    torch.manual_seed(0)
    adapter = ResidualAdapter(nn.Conv2d(3, 5, 3, padding=1), n_adapters=4, gate=gate)
    with torch.no_grad():
        adapter.gate_linear.weight.mul_(20)  # spread the logits so sparsemax zeroes some
        g = adapter.gates(torch.randn(16, 3, 6, 6))
    assert g.shape == (16, 4) and bool((g >= 0).all())
    torch.testing.assert_close(g.sum(dim=1), torch.ones(16))
    if gate == "sparsemax":
        assert bool((g == 0).any())


def test_sparsemax_known_values():
    """sparsemax([1, 0]) = [1, 0]; sparsemax([0.2, 0.1]) = [0.55, 0.45]."""
    out = sparsemax(torch.tensor([[1.0, 0.0], [0.2, 0.1]]))
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0], [0.55, 0.45]]))


@pytest.mark.parametrize("n_adapters", [1, 2])
def test_zero_adapters_leave_the_backbone_unchanged(backbone, n_adapters):
    """With zero adapter weights the adapted network computes exactly the backbone."""
    adapted = add_residual_adapters(backbone, n_adapters=n_adapters)
    for m in adapted.modules():
        if isinstance(m, ResidualAdapter):
            nn.init.zeros_(m.adapters.weight)
    x = torch.randn(6, 1, 12, 12)
    backbone.eval(), adapted.eval()
    with torch.no_grad():
        torch.testing.assert_close(adapted(x), backbone(x), rtol=0, atol=0)


def test_zero_initialised_adra_starts_at_the_backbone(backbone):
    """adapter_init='zeros': before training, ADRA's body computes the pretrained network."""
    X, y = _fit_data()
    det = ADRA(backbone=backbone, adapter_init="zeros", epochs=0, recalibrate_bn=False,
               device="cpu").fit(X, y)
    x = torch.as_tensor(X[:5])
    backbone.eval(), det.network_.body.eval()
    with torch.no_grad():
        torch.testing.assert_close(det.network_.body(x), backbone(x), rtol=0, atol=0)


def test_adapters_fit_any_cnn_padding_stride_and_kernel():
    """Generic insertion: valid, same, strided, dilated and even-kernel convolutions."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3),                            # valid padding: 13 -> 11
        nn.Conv2d(4, 4, 5, stride=2, padding=2),       # 11 -> 6
        nn.Conv2d(4, 4, 3, padding=2, dilation=2),     # 6 -> 6
        nn.Conv2d(4, 4, 2),                            # even kernel: 6 -> 5
        nn.Conv2d(4, 3, 1),                            # 1x1: left alone
    )
    adapted = add_residual_adapters(net, n_adapters=2)
    assert sum(isinstance(m, ResidualAdapter) for m in adapted.modules()) == 4
    assert isinstance(adapted[4], nn.Conv2d)
    x = torch.randn(3, 2, 13, 13)
    assert adapted(x).shape == net(x).shape == (3, 3, 5, 5)
    trainable = {n for n, p in adapted.named_parameters() if p.requires_grad}
    assert trainable and all("adapters" in n or "gate_linear" in n for n in trainable)


def test_adapter_insertion_needs_a_convolution():
    """A network without spatial convolutions cannot be adapted."""
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        add_residual_adapters(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


# --------------------------------------------------------------- estimator
def test_frozen_backbone_weights_are_bit_identical_after_fit(backbone):
    """mode='adra' trains adapters, head and BN affine; every backbone conv stays bit-identical."""
    X, y = _fit_data()
    before = _conv_weights(backbone)
    bn_before = backbone.bn1.weight.detach().clone()
    det = ADRA(backbone=backbone, **FAST).fit(X, y)
    body = det.network_.body
    after = {name: m.conv.weight for name, m in body.named_modules()
             if isinstance(m, ResidualAdapter)}
    assert after.keys() == before.keys()
    for name, weight in before.items():
        torch.testing.assert_close(after[name], weight, rtol=0, atol=0)
    assert not torch.equal(body.bn1.weight, bn_before)   # train_bn=True, as in the code
    torch.testing.assert_close(backbone.bn1.weight, bn_before, rtol=0, atol=0)  # input untouched
    frozen_bn = ADRA(backbone=backbone, train_bn=False, **FAST).fit(X, y)
    torch.testing.assert_close(frozen_bn.network_.body.bn1.weight, bn_before, rtol=0, atol=0)


def test_adra_trains_far_fewer_parameters_than_finetuning(backbone):
    """ADRA's trainable set is adapters + gates + BN + head, a fraction of the backbone."""
    X, y = _fit_data()
    adra = ADRA(backbone=backbone, epochs=0, device="cpu").fit(X, y)
    tf = ADRA(backbone=backbone, mode="finetune", epochs=0, device="cpu").fit(X, y)
    total = sum(p.numel() for p in backbone.parameters())
    assert tf.n_trainable_parameters_ == total + backbone.out_features + 1
    assert adra.n_trainable_parameters_ < 0.6 * tf.n_trainable_parameters_


def test_adra_separates_normal_from_corpus_like_anomalies(backbone):
    """Trained on normals vs corpus, ADRA ranks held-out corpus-like samples as anomalous."""
    X, y = _fit_data(0)
    normal, corpus = _images(1, 30)
    det = ADRA(backbone=backbone, **{**FAST, "epochs": 10}).fit(X, y)
    scores = det.score_samples(np.concatenate([normal, corpus]))
    assert roc_auc_score(np.r_[np.zeros(30), np.ones(30)], -scores) > 0.95
    assert (det.predict(normal) == 1).mean() > 0.8


def test_batches_are_half_normal_half_corpus():
    """Every training step sees as many corpus rows as normal rows (normals: one pass)."""

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.log = []

        def forward(self, x):
            if self.training:
                self.log.append(x[:, 0, 0, 0].detach().clone())
            return x

    net = nn.Sequential(Recorder(), nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2),
                        nn.ReLU(), nn.Flatten())
    normal, corpus = _images(0, 20)
    normal[:, 0, 0, 0], corpus[:, 0, 0, 0] = 0.0, 1.0  # tag pixel
    X = np.concatenate([normal, corpus[:7]])
    y = np.r_[np.zeros(20), -np.ones(7)]
    det = ADRA(backbone=net, epochs=2, batch_size=8, device="cpu", random_state=0).fit(X, y)
    log = det.network_.body[0].log
    # 20 normals in batches of 8, 8, 4: two epochs, then the BatchNorm recalibration pass
    assert [len(t) for t in log] == [16, 16, 8] * 3
    for tags in log:
        assert int((tags == 0).sum()) == int((tags == 1).sum())


def test_batch_norm_recalibration_matches_training_statistics(backbone):
    """recalibrate_bn: running statistics are the final weights' batch statistics."""
    X, y = _fit_data()
    det = ADRA(backbone=backbone, **{**FAST, "lr": 0.05}).fit(X, y)
    stale = ADRA(backbone=backbone, recalibrate_bn=False, **{**FAST, "lr": 0.05}).fit(X, y)
    x = torch.as_tensor(X)
    for model in (det, stale):
        bn = model.network_.body.bn_out
        seen = []
        hook = bn.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
        model.network_.eval()
        with torch.no_grad():
            model.network_(x)
        hook.remove()
        model.gap_ = (seen[0].mean(dim=(0, 2, 3)) - bn.running_mean).abs().max().item()
    assert det.gap_ < stale.gap_
    np.testing.assert_array_equal(det.network_.body.conv1.conv.weight.detach(),
                                  stale.network_.body.conv1.conv.weight.detach())


def test_fit_is_reproducible_and_pickles(backbone):
    """Same random_state, same scores; a pickled detector scores identically."""
    X, y = _fit_data()
    a = ADRA(backbone=backbone, **FAST).fit(X, y)
    b = ADRA(backbone=backbone, **FAST).fit(X, y)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.score_samples(X), c.score_samples(X))


def test_saved_weights_load_with_weights_only(backbone, tmp_path):
    """A saved ResNet26 state dict is a backbone: same fit as passing the module itself."""
    path = tmp_path / "resnet26.pt"
    torch.save(backbone.state_dict(), path)
    torch.load(path, weights_only=True)  # the file needs no pickled code
    rebuilt = ResNet26.from_state_dict(torch.load(path, weights_only=True))
    assert rebuilt.widths == TINY and rebuilt.in_channels == 1
    X, y = _fit_data()
    from_path = ADRA(backbone=path, **FAST).fit(X, y)
    from_module = ADRA(backbone=backbone, **FAST).fit(X, y)
    np.testing.assert_allclose(from_path.score_samples(X), from_module.score_samples(X),
                               rtol=1e-6)


def test_modes_train_what_they_should(backbone):
    """scratch re-initialises; finetune moves the backbone; l2sp keeps it nearer theta_0."""
    X, y = _fit_data()
    w0 = backbone.stage2[0].conv1.weight.detach().clone()
    kw = {**FAST, "epochs": 4, "lr": 0.05}
    scratch = ADRA(backbone=backbone, mode="scratch", epochs=0, device="cpu",
                   random_state=0).fit(X, y)
    assert not torch.allclose(scratch.network_.body.stage2[0].conv1.weight, w0)
    tf = ADRA(backbone=backbone, mode="finetune", **kw).fit(X, y)
    sp = ADRA(backbone=backbone, mode="l2sp", l2sp_alpha=50.0, **kw).fit(X, y)
    drift_tf = (tf.network_.body.stage2[0].conv1.weight - w0).norm()
    drift_sp = (sp.network_.body.stage2[0].conv1.weight - w0).norm()
    assert 0 < drift_sp < drift_tf


def test_bce_loss_and_sparsemax_gates_fit(backbone):
    """The code's BCE loss and the sparsemax gate are full alternatives."""
    X, y = _fit_data()
    det = ADRA(backbone=backbone, loss="bce", gate="sparsemax",
               **{**FAST, "epochs": 10}).fit(X, y)
    normal, corpus = _images(2, 20)
    scores = det.score_samples(np.concatenate([normal, corpus]))
    assert roc_auc_score(np.r_[np.zeros(20), np.ones(20)], -scores) > 0.9
    assert det.offset_ == 0.0


def test_hsc_natural_threshold_separates_normal_from_corpus(backbone):
    """contamination="auto" with a corpus: the HSC boundary p = 1/2 (offset -log 2)."""
    X, y = _fit_data()
    det = ADRA(backbone=backbone, **{**FAST, "epochs": 10}).fit(X, y)
    assert det.offset_ == pytest.approx(-np.log(2.0))
    normal, corpus = _images(2, 20)
    assert np.mean(det.predict(normal) == 1) >= 0.9
    assert np.mean(det.predict(corpus) == -1) >= 0.9


def test_without_corpus_warns_and_guards_against_collapse(backbone):
    """No y == -1: a warning, a bias-free head, frozen BN affine and a centre away from 0."""
    normal, _ = _images()
    with pytest.warns(UserWarning, match="No outlier-exposure corpus"):
        det = ADRA(backbone=backbone, **FAST).fit(normal)
    assert det.unsupervised_ and det.network_.head.bias is None
    assert np.all(np.abs(det.center_) >= 0.1 - 1e-7)
    assert not det.network_.body.bn1.weight.requires_grad
    assert np.ptp(det.score_samples(normal)) > 0


def test_constant_scores_after_fit_warn_with_a_corpus(backbone, monkeypatch):
    """A corpus-trained network that gives every normal sample the same score is flagged."""
    X, y = _fit_data(n=16)
    monkeypatch.setattr(ADRA, "_score_batch", lambda self, x: torch.full((len(x),), -0.4))
    with pytest.warns(UserWarning, match="same score.*without ranking"):
        ADRA(backbone=backbone, **FAST).fit(X, y)


def test_random_resnet26_warns_that_transfer_is_absent():
    """backbone='resnet26' builds an untrained network and says so."""
    X, y = _fit_data(n=8)
    with pytest.warns(UserWarning, match="no pretrained"):
        ADRA(epochs=0, device="cpu").fit(X, y)


def test_bad_input_raises_clear_errors(backbone):
    """Wrong channel count, a one-sample corpus, an unknown mode, bce with rep_dim > 1."""
    X, y = _fit_data(n=10)
    with pytest.raises(ValueError, match="3 channel.*expects 1"):
        ADRA(backbone=backbone, **FAST).fit(np.repeat(X, 3, axis=1), y)
    y_one = np.r_[np.zeros(19), -1]
    with pytest.raises(ValueError, match="corpus .* has 1 sample"):
        ADRA(backbone=backbone, **FAST).fit(X[:20], y_one)
    with pytest.raises(ValueError, match="mode"):
        ADRA(backbone=backbone, mode="frozen", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="rep_dim=1"):
        ADRA(backbone=backbone, loss="bce", rep_dim=4, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="neither 'resnet26'"):
        ADRA(backbone="no/such/file.pt", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="needs images"):
        ADRA(**FAST).fit(X.reshape(len(X), -1), y)


# --------------------------------------------------------------- networks
def test_resnet26_has_26_layers_and_downsamples(backbone):
    """25 convolutions (stem + 24), 3 stages; 28x28 -> features of the last width."""
    convs = [m for m in backbone.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 25 and all(m.kernel_size == (3, 3) for m in convs)
    assert backbone(torch.zeros(2, 1, 28, 28)).shape == (2, TINY[-1])
    assert ResNet26(3, (4, 8, 8))(torch.zeros(2, 3, 7, 7)).shape == (2, 8)  # odd sizes


def test_pretrain_classifier_learns_and_drops_the_head(backbone):
    """The returned copy separates the classes; the head is gone; the input is untouched."""
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 30)
    X = 0.2 * rng.rand(90, 1, 8, 8).astype(np.float32)
    for c in range(3):
        X[y == c, 0, 2 * c + 1, :] += 1.0
    before = _conv_weights(backbone)
    net = pretrain_classifier(backbone, X, y, epochs=8, batch_size=32, lr=0.05,
                              device="cpu", random_state=0)
    assert net.pretrain_accuracy_ > 0.9
    assert not any(isinstance(m, nn.Linear) for m in net.modules())
    assert net(torch.as_tensor(X[:2])).shape == (2, TINY[-1])
    for name, w in _conv_weights(backbone).items():
        torch.testing.assert_close(w, before[name], rtol=0, atol=0)
    with pytest.raises(ValueError, match="two classes"):
        pretrain_classifier(backbone, X, np.zeros(90), epochs=1)


# ------------------------------------------------------------------ corpus
def test_outlier_corpus_is_reproducible_and_mnist_scaled():
    """Letters and crops in [0, 1], 1x28x28, evenly split, same draw for the same seed."""
    X, source = make_outlier_corpus(12, random_state=0)
    X2, _ = make_outlier_corpus(12, random_state=0)
    assert X.shape == (12, 1, 28, 28) and X.dtype == np.float32
    assert X.min() >= 0 and X.max() <= 1
    np.testing.assert_array_equal(X, X2)
    assert sorted(source.tolist()) == ["crops"] * 6 + ["letters"] * 6
    letters = X[source == "letters"]
    # white strokes on a black frame, like MNIST / 255
    assert np.median(letters[:, 0, 0, :]) == 0 and letters.max(axis=(1, 2, 3)).min() > 0.5
    assert not set("OoIlZzSsBgq") & set(CORPUS_LETTERS)
    with pytest.raises(ValueError, match="sources"):
        make_outlier_corpus(4, sources=("digits",))


def test_validation_split_holds_out_normal_and_corpus_rows(backbone):
    """validation_fraction: the held-out loss mixes both kinds of rows and is recorded."""
    X, y = _fit_data()
    det = ADRA(backbone=backbone, validation_fraction=0.25, n_iter_no_change=2,
               **{**FAST, "epochs": 4}).fit(X, y)
    assert all(np.isfinite(h["valid_loss"]) for h in det.history_)
    assert 1 <= len(det.history_) <= 4


@pytest.mark.parametrize("content", ["garbage", "truncated", "pickled object", "not resnet"])
def test_backbone_file_that_is_not_resnet26_weights_names_the_file(backbone, tmp_path,
                                                                   content):
    """A bad weights file is a ValueError naming it, not a raw UnpicklingError."""
    X, y = _fit_data(n=8)
    path = tmp_path / "weights.pt"
    if content == "garbage":
        path.write_bytes(np.random.RandomState(0).bytes(300))
    elif content == "truncated":
        torch.save(backbone.state_dict(), path)
        path.write_bytes(path.read_bytes()[:2000])
    elif content == "pickled object":
        torch.save({"conv1.weight": _Opaque()}, path)
    else:
        torch.save({"weight": torch.zeros(2, 2)}, path)
    expected = "does not describe a ResNet26" if content == "not resnet" else "weights_only"
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*{expected}"):
        ADRA(backbone=path, **FAST).fit(X, y)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        ADRA(backbone=str(path), **FAST).fit(X, y)


class _Opaque:
    """An object that a weights-only load must refuse to unpickle."""
