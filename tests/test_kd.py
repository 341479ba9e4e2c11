"""Behaviour of KDStudentTeacher (Mai, Davies, Griffin, 2021)."""

import numpy as np
import pytest
import torch
from torch import nn

from skdeepad import KDStudentTeacher
from skdeepad._kd import distillation_error, distillation_loss, rotation_loss
from skdeepad.inspection import linear_probe_score, teacher_features
from skdeepad.networks import KDResNet, KDResNetDecoder

TINY = dict(hidden_layer_sizes=(16, 16), head_dim=8, batch_size=32, device="cpu",
            random_state=0)
IMAGES = dict(resnet_widths=(4, 4, 8, 8), head_dim=8, batch_size=16, device="cpu",
              random_state=0, pretrain_epochs=3, epochs=1)


@pytest.fixture
def normal_data():
    return np.random.RandomState(0).randn(200, 6)


@pytest.fixture
def images():
    """60 tiny 1x12x12 images in [0, 1]."""
    return np.random.RandomState(0).rand(60, 1, 12, 12).astype(np.float32)


class _NotWeights:
    """An object that a weights-only load must refuse to unpickle."""


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_distillation_error_is_equation_1_and_loss_its_mean():
    """A(x) = ||h - f||^2 per sample; the student's loss is the MSE over dims and batch."""
    f = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    h = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert distillation_error(f, h).tolist() == [5.0, 25.0]
    assert distillation_loss(f, h).item() == pytest.approx(30.0 / 4)


def test_rotation_loss_labels_rotations_counterclockwise_by_multiples_of_90():
    """Label k is the image rotated k x 90 deg: a corner detector gets ~zero loss."""
    x = torch.zeros(2, 1, 5, 5)
    x[:, 0, 0, 0] = 1.0  # a bright top-left pixel

    def corner_classifier(z):
        corners = torch.stack([z[:, 0, 0, 0], z[:, 0, -1, 0], z[:, 0, -1, -1],
                               z[:, 0, 0, -1]], dim=1)
        return 50.0 * corners

    assert rotation_loss(corner_classifier, x).item() < 1e-6
    assert rotation_loss(lambda z: corner_classifier(z).roll(1, dims=1), x).item() > 10


def test_small_resnet_pools_globally_and_decoder_reconstructs_shape():
    """The cifar10-fast backbone gives widths[-1] features for 32x32 and 28x28 inputs."""
    for shape in [(3, 32, 32), (1, 28, 28)]:
        net = KDResNet(shape[0], (4, 8, 8, 16))
        assert net(torch.rand(2, *shape)).shape == (2, 16)
        dec = KDResNetDecoder(shape, 10, (4, 8, 8, 16))
        assert dec(torch.rand(2, 10)).shape == (2, *shape)


def test_user_teacher_is_frozen_and_bit_identical_after_fit(normal_data):
    """A given teacher backbone comes out of fit unchanged, BN buffers included."""
    backbone = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU())
    backbone.train()(torch.randn(50, 6))  # non-trivial BN statistics
    before = _state(backbone)
    det = KDStudentTeacher(teacher=backbone, epochs=3, lr=1e-3, **TINY).fit(normal_data)
    _assert_same_state(_state(det.teacher_[0]), before)
    _assert_same_state(_state(backbone), before)  # the user's object is untouched
    assert not any(p.requires_grad for p in det.teacher_.parameters())


@pytest.mark.parametrize("pretrain", [None, "autoencoder"])
def test_student_training_leaves_teacher_and_head_bit_identical(normal_data, pretrain):
    """Teacher and head are the same bits whether the student trains 0 or 5 epochs."""
    params = dict(teacher_pretrain=pretrain, pretrain_epochs=2, lr=1e-3, **TINY)
    untrained = KDStudentTeacher(epochs=0, **params).fit(normal_data)
    trained = KDStudentTeacher(epochs=5, **params).fit(normal_data)
    _assert_same_state(_state(trained.teacher_), _state(untrained.teacher_))
    assert not any(p.requires_grad for p in trained.teacher_.parameters())
    assert not torch.equal(next(trained.student_.parameters()),
                           next(untrained.student_.parameters()))


def test_student_starts_different_from_teacher(normal_data):
    """Before training, the student's weights and outputs differ from the teacher's."""
    det = KDStudentTeacher(epochs=0, **TINY).fit(normal_data)
    pairs = list(zip(det.student_.parameters(), det.teacher_.parameters()))
    weights = [(p, q) for p, q in pairs if p.ndim == 2]
    assert weights and not any(torch.equal(p, q) for p, q in weights)
    assert np.all(det.score_samples(normal_data) < 0)  # nonzero error on every sample


def test_training_lowers_error_more_on_normal_than_on_shifted_data(normal_data):
    """Distillation fits the normal data; shifted data keep most of their error."""
    rng = np.random.RandomState(1)
    normal_test = rng.randn(200, 6)
    shifted = rng.randn(200, 6) * 0.5 + np.r_[3.0, -3.0, 0, 0, 0, 0]
    params = dict(lr=1e-3, **TINY)
    before = KDStudentTeacher(epochs=0, **params).fit(normal_data)
    after = KDStudentTeacher(epochs=40, **params).fit(normal_data)
    ratio_normal = after.score_samples(normal_test).mean() / before.score_samples(
        normal_test).mean()
    ratio_shifted = after.score_samples(shifted).mean() / before.score_samples(shifted).mean()
    assert ratio_normal < 0.5
    assert ratio_normal < 0.8 * ratio_shifted
    assert after.score_samples(shifted).mean() < 5 * after.score_samples(normal_test).mean()
    assert after.history_[-1]["train_loss"] < after.history_[0]["train_loss"]


def test_labeled_anomalies_are_not_seen_by_the_student(normal_data):
    """Rows labeled -1 change nothing in the scores of a self-supervised teacher's student."""
    anomalies = np.random.RandomState(3).randn(10, 6) + 5
    X = np.r_[normal_data, anomalies]
    y = np.r_[np.zeros(len(normal_data)), -np.ones(10)]
    with_labels = KDStudentTeacher(epochs=2, lr=1e-3, **TINY).fit(X, y)
    without = KDStudentTeacher(epochs=2, lr=1e-3, **TINY).fit(normal_data)
    np.testing.assert_array_equal(with_labels.score_samples(X), without.score_samples(X))


def test_supervised_teacher_uses_labeled_anomalies(normal_data):
    """The paper's baseline teacher separates normal from labeled anomalies."""
    rng = np.random.RandomState(4)
    X_aux = np.r_[rng.randn(100, 6), rng.randn(100, 6) + 2]
    y_aux = np.r_[np.ones(100), -np.ones(100)]
    det = KDStudentTeacher(teacher_pretrain="supervised", pretrain_epochs=10, epochs=1,
                           **TINY).fit(normal_data, X_aux=X_aux, y_aux=y_aux)
    history = det.pretrain_history_
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert linear_probe_score(det, X_aux[::2], y_aux[::2], X_aux[1::2], y_aux[1::2]) > 0.8


def test_classification_teacher_learns_auxiliary_classes(normal_data):
    """Cross-entropy pretraining on X_aux / y_aux; its classes are recorded."""
    rng = np.random.RandomState(5)
    X_aux = rng.randn(150, 6)
    y_aux = np.array(["a", "b", "c"])[(X_aux[:, 0] > 0).astype(int) + (X_aux[:, 1] > 1)]
    det = KDStudentTeacher(teacher_pretrain="classification", pretrain_epochs=10, epochs=1,
                           pretrain_lr=1e-2, **TINY).fit(normal_data, X_aux=X_aux, y_aux=y_aux)
    assert det.aux_classes_.tolist() == ["a", "b", "c"]
    assert det.pretrain_history_[-1]["train_loss"] < det.pretrain_history_[0]["train_loss"]


@pytest.mark.parametrize("task", ["rotnet", "autoencoder", "denoising"])
def test_image_teachers_pretrain_on_the_normal_images(images, task):
    """RotNet and (denoising) AE pretraining reduce their loss on images; scores are finite."""
    det = KDStudentTeacher(teacher_pretrain=task, pretrain_lr=1e-2, **IMAGES).fit(images)
    losses = [h["train_loss"] for h in det.pretrain_history_]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert isinstance(det.teacher_[0], KDResNet)
    assert np.all(np.isfinite(det.score_samples(images)))
    flat = det.score_samples(images.reshape(60, -1))  # flattened input works too
    np.testing.assert_allclose(flat, det.score_samples(images), rtol=1e-5)


def test_autoencoder_head_is_the_trained_bottleneck_unless_random(normal_data):
    """head='auto' keeps the AE bottleneck as h(x); head='random' draws a fresh one."""
    params = dict(teacher_pretrain="autoencoder", pretrain_epochs=3, epochs=0, **TINY)
    auto = KDStudentTeacher(**params).fit(normal_data)
    bottleneck = KDStudentTeacher(head="bottleneck", **params).fit(normal_data)
    random = KDStudentTeacher(head="random", **params).fit(normal_data)
    _assert_same_state(_state(auto.teacher_), _state(bottleneck.teacher_))
    _assert_same_state(_state(auto.teacher_[0]), _state(random.teacher_[0]))
    assert not torch.equal(auto.teacher_[1].weight, random.teacher_[1].weight)


def test_teacher_weights_are_loaded_weights_only(normal_data, tmp_path):
    """Saved backbone weights come back exactly; a pickled object is refused."""
    det = KDStudentTeacher(teacher_pretrain="autoencoder", pretrain_epochs=2, epochs=0,
                           **TINY).fit(normal_data)
    path = tmp_path / "teacher.pt"
    torch.save(det.teacher_[0].state_dict(), path)
    again = KDStudentTeacher(teacher_weights=path, epochs=0, **TINY).fit(normal_data)
    _assert_same_state(_state(again.teacher_[0]), _state(det.teacher_[0]))
    from_dict = KDStudentTeacher(teacher_weights=det.teacher_[0].state_dict(), epochs=0,
                                 **TINY).fit(normal_data)
    _assert_same_state(_state(from_dict.teacher_[0]), _state(det.teacher_[0]))
    bad = tmp_path / "code.pt"
    torch.save(_NotWeights(), bad)
    with pytest.raises(ValueError, match="weights_only"):
        KDStudentTeacher(teacher_weights=bad, **TINY).fit(normal_data)
    with pytest.raises(ValueError, match="does not match"):
        KDStudentTeacher(teacher_weights={"nope": torch.zeros(1)}, **TINY).fit(normal_data)


def test_identity_head_distils_the_same_teacher_again(normal_data):
    """teacher=det.teacher_, head='identity' reuses the frozen teacher exactly."""
    det = KDStudentTeacher(epochs=1, **TINY).fit(normal_data)
    again = KDStudentTeacher(teacher=det.teacher_, head="identity", epochs=1,
                             **{**TINY, "random_state": 1}).fit(normal_data)
    np.testing.assert_array_equal(teacher_features(again, normal_data),
                                  teacher_features(det, normal_data))
    with pytest.raises(ValueError, match="head_dim"):
        KDStudentTeacher(teacher=det.teacher_, head="identity",
                         **{**TINY, "head_dim": 3}).fit(normal_data)
    with pytest.raises(ValueError, match="same random_state"):  # would copy the teacher
        KDStudentTeacher(teacher=det.teacher_, head="identity", **TINY).fit(normal_data)


def test_custom_student(normal_data):
    """A user student of another architecture is trained to the head_dim outputs."""
    det = KDStudentTeacher(student=lambda shape: nn.Linear(shape[0], 8), epochs=2, lr=1e-2,
                           **TINY).fit(normal_data)
    assert isinstance(det.student_, nn.Linear)
    with pytest.raises(ValueError, match="head_dim"):
        KDStudentTeacher(student=nn.Linear(6, 5), **TINY).fit(normal_data)


@pytest.mark.parametrize("params, fit_kwargs, match", [
    (dict(teacher_pretrain="classification"), {}, "needs auxiliary labeled data"),
    (dict(teacher_pretrain="rotnet"), dict(X_aux=np.zeros((4, 6)), y_aux=np.zeros(4)),
     "X_aux / y_aux are used only"),
    (dict(teacher_pretrain="rotnet"), {}, "square images"),
    (dict(teacher_pretrain="supervised"), {}, "needs labeled anomalies"),
    (dict(head="bottleneck"), {}, "needs an autoencoder teacher"),
    (dict(resnet_widths=(8, 8)), {}, "resnet_widths must be 4 positive"),
    (dict(teacher_pretrain="bogus"), {}, "teacher_pretrain"),
    (dict(teacher_pretrain="classification"),
     dict(X_aux=np.zeros((4, 5)), y_aux=np.arange(4)), "X_aux has samples of shape"),
    (dict(teacher_pretrain="classification"),
     dict(X_aux=np.zeros((4, 6)), y_aux=np.zeros(4)), "at least 2 classes"),
    (dict(teacher_pretrain="supervised"),
     dict(X_aux=np.zeros((4, 6)), y_aux=np.zeros(4)), r"\+1 \(normal\) or -1"),
    (dict(teacher=lambda shape: "not a module"), {}, None),
])
def test_bad_parameters_raise_clear_errors(normal_data, params, fit_kwargs, match):
    """Wrong settings name what is wrong and what is accepted."""
    det = KDStudentTeacher(**{**TINY, **params})
    error = TypeError if match is None else ValueError
    with pytest.raises(error, match=match or "torch.nn.Module"):
        det.fit(normal_data, **fit_kwargs)


def test_bad_inputs_raise_clear_errors(normal_data):
    """NaNs, bad labels and inputs of the wrong width are refused with a message."""
    X = normal_data.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        KDStudentTeacher(**TINY).fit(X)
    with pytest.raises(ValueError, match=r"\+1 \(known normal\)"):
        KDStudentTeacher(**TINY).fit(normal_data, np.full(len(normal_data), 2))
    y = -np.ones(len(normal_data))
    y[0] = 0
    with pytest.raises(ValueError, match="at least 2 training samples"):
        KDStudentTeacher(**TINY).fit(normal_data, y)
    det = KDStudentTeacher(epochs=0, **TINY).fit(normal_data)
    with pytest.raises(ValueError, match="features"):
        det.score_samples(normal_data[:, :3])


def test_auto_teacher_refuses_samples_without_a_channel_axis(images):
    """(n, H, W) could be grayscale images or sequences: an error says how to mean which.

    Before, such samples silently got the MLP and resnet_widths was ignored.
    """
    det = KDStudentTeacher(**{**IMAGES, "epochs": 0})
    with pytest.raises(ValueError, match=r"samples of shape \(12, 12\).*X\[:, None\].*"
                                         r"input_shape=\(1, 12, 12\).*flatten"):
        det.fit(images[:, 0])
    assert not hasattr(det, "teacher_")
    # With the channel axis (or flattened with input_shape), resnet_widths is used:
    for X, params in [(images, {}), (images.reshape(len(images), -1),
                                     {"input_shape": (1, 12, 12)})]:
        fitted = KDStudentTeacher(**{**IMAGES, "epochs": 0, **params}).fit(X)
        assert isinstance(fitted.teacher_[0], KDResNet)
        assert fitted.teacher_[0].out_features == IMAGES["resnet_widths"][-1]
    # Flattened without input_shape is tabular: the MLP of hidden_layer_sizes.
    flat = KDStudentTeacher(**{**IMAGES, "epochs": 0, "hidden_layer_sizes": (5,)}).fit(
        images.reshape(len(images), -1))
    assert flat.hidden_layer_sizes_ == (5,)
    # A teacher of the user's own may take such samples.
    own = KDStudentTeacher(teacher=lambda shape: nn.Sequential(nn.Flatten(), nn.Linear(144, 8)),
                           **{**IMAGES, "epochs": 0}).fit(images[:, 0])
    assert teacher_features(own, images[:3, 0]).shape == (3, 8)
