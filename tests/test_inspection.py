"""skdeepad.inspection: training curves, the per-epoch log of verbose=2, and the
knowledge-distillation diagnostics (Mai, Davies, Griffin, 2021)."""

import copy

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.covariance import EmpiricalCovariance  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from skdeepad import AMA, DeepSAD, DeepSVDD, KDStudentTeacher  # noqa: E402
from skdeepad.inspection import (  # noqa: E402
    brittleness,
    linear_probe_score,
    mahalanobis_score,
    plot_history,
    teacher_features,
)

X = np.random.RandomState(0).rand(80, 4)


def test_plot_history_draws_each_recorded_loss_per_panel():
    det = DeepSAD(epochs=4, pretrain_epochs=3, validation_fraction=0.25, device="cpu",
                  random_state=0).fit(X)
    train, pretrain = plot_history(det, log_scale=False)
    lines = {line.get_label(): line for line in train.get_lines()}
    assert set(lines) == {"train loss", "valid loss"}
    np.testing.assert_allclose(lines["train loss"].get_ydata(),
                               [r["train_loss"] for r in det.history_])
    np.testing.assert_array_equal(lines["valid loss"].get_xdata(), [1, 2, 3, 4])
    assert len(pretrain.get_lines()[0].get_xdata()) == 3
    assert pretrain.get_title() == "DeepSAD: pretraining"


def test_plot_history_shows_method_specific_losses_and_one_panel_without_pretraining():
    det = AMA(epochs=2, n_critic=1, neg_start_epoch=0, device="cpu", random_state=0).fit(X)
    (axis,) = plot_history(det)
    assert {"train loss", "critic loss"} <= {line.get_label() for line in axis.get_lines()}
    no_pretrain = DeepSVDD(epochs=2, pretrain=False, device="cpu", random_state=0).fit(X)
    assert len(plot_history(no_pretrain)) == 1


def test_plot_history_refuses_estimators_without_history():
    with pytest.raises(TypeError, match="records no training history"):
        plot_history(IsolationForest(n_estimators=5).fit(X))


def test_verbose_2_prints_one_line_per_epoch(capsys):
    DeepSVDD(epochs=3, pretrain_epochs=2, verbose=2, device="cpu", random_state=0).fit(X)
    out = capsys.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if " epoch " in line]
    assert len(lines) == 5  # 2 pretraining + 3 training epochs
    assert "epoch 3/3: train_loss " in lines[-1] and lines[-1].endswith(" s")
    DeepSVDD(epochs=3, pretrain_epochs=2, verbose=1, device="cpu", random_state=0).fit(X)
    out = capsys.readouterr()
    assert not [line for line in (out.out + out.err).splitlines() if "epoch 3/3:" in line]


# ----------------------------------------------- knowledge-distillation diagnostics
KD_TINY = dict(hidden_layer_sizes=(16, 16), head_dim=8, batch_size=32, device="cpu",
               random_state=0)


@pytest.fixture(scope="module")
def kd_normal():
    return np.random.RandomState(0).randn(200, 6)


@pytest.fixture(scope="module")
def kd_fitted(kd_normal):
    return KDStudentTeacher(epochs=1, **KD_TINY).fit(kd_normal)


@pytest.mark.parametrize("through_teacher", [False, True])
def test_brittleness_matches_finite_differences(through_teacher):
    """Eq. 2 equals mean ||dL/dx|| by central differences over tr(cov(f - h))."""
    rng = np.random.RandomState(0)
    X = rng.randn(30, 3)
    det = KDStudentTeacher(hidden_layer_sizes=(5,), head_dim=4, epochs=3, lr=1e-2,
                           batch_size=8, device="cpu", random_state=0).fit(X)
    student = copy.deepcopy(det.student_).double().eval()
    teacher = copy.deepcopy(det.teacher_).double().eval()
    x = torch.as_tensor(X)
    eps = 1e-5
    with torch.no_grad():
        h0 = teacher(x)

        def loss(z):
            h = teacher(z) if through_teacher else h0
            return ((student(z) - h) ** 2).mean(dim=1)

        grads = torch.stack([(loss(x + eps * e) - loss(x - eps * e)) / (2 * eps)
                             for e in torch.eye(3, dtype=torch.float64)], dim=1)
        errors = (student(x) - h0).numpy()
    expected = grads.norm(dim=1).mean().item() / np.trace(np.cov(errors, rowvar=False))
    got = brittleness(det, X, through_teacher=through_teacher)
    assert got == pytest.approx(expected, rel=1e-3)


def test_mahalanobis_scores_match_empirical_gaussian(kd_normal, kd_fitted):
    """Full, diagonal and mean-distance scores on h are minus the usual distances."""
    det = kd_fitted
    Z_train = teacher_features(det, kd_normal)
    X_new = np.random.RandomState(2).randn(20, 6) * 2
    Z = teacher_features(det, X_new)
    cov = EmpiricalCovariance().fit(Z_train)
    # Covariance with ddof=1 (ours) vs ddof=0 (sklearn): distances scale by n/(n-1).
    n = len(Z_train)
    np.testing.assert_allclose(-mahalanobis_score(det, kd_normal, X_new, kind="full"),
                               cov.mahalanobis(Z) * (n - 1) / n, rtol=1e-4)
    mu, var = Z_train.mean(0), Z_train.var(0, ddof=1)
    np.testing.assert_allclose(-mahalanobis_score(det, kd_normal, X_new, kind="diagonal"),
                               ((Z - mu) ** 2 / var).sum(1), rtol=1e-6)
    np.testing.assert_allclose(-mahalanobis_score(det, kd_normal, X_new, kind="mean"),
                               ((Z - mu) ** 2).mean(1), rtol=1e-6)
    pooled = teacher_features(det, X_new, rep="pooled")
    assert pooled.shape == (20, 16)  # the MLP backbone's last width, under the head
    assert mahalanobis_score(det, kd_normal, X_new, rep="pooled").shape == (20,)


def test_linear_probe_reads_the_teacher_representation(kd_normal, kd_fitted):
    """A linear probe separates classes that the (random) teacher's features keep apart."""
    y = (kd_normal[:, 0] > 0).astype(int)
    acc = linear_probe_score(kd_fitted, kd_normal[::2], y[::2], kd_normal[1::2], y[1::2])
    assert 0.8 < acc <= 1.0
    assert linear_probe_score(kd_fitted, kd_normal[::2], y[::2], kd_normal[1::2], y[1::2],
                              rep="head") > 0.6


def test_kd_diagnostics_refuse_bad_arguments(kd_normal, kd_fitted):
    """Bad kinds and reps, other detectors, unfitted ones and too few samples."""
    with pytest.raises(ValueError, match="kind must be"):
        mahalanobis_score(kd_fitted, kd_normal, kd_normal, kind="cosine")
    with pytest.raises(ValueError, match="rep must be"):
        teacher_features(kd_fitted, kd_normal, rep="logits")
    with pytest.raises(ValueError, match="rep must be"):
        linear_probe_score(kd_fitted, kd_normal, kd_normal[:, 0] > 0, kd_normal,
                           kd_normal[:, 0] > 0, rep="logits")
    with pytest.raises(ValueError, match="at least 2 samples"):
        mahalanobis_score(kd_fitted, kd_normal[:1], kd_normal)
    with pytest.raises(ValueError, match="at least 2 samples"):
        brittleness(kd_fitted, kd_normal[:1])
    with pytest.raises(ValueError, match="features"):
        teacher_features(kd_fitted, kd_normal[:, :3])
    with pytest.raises(TypeError, match="takes a fitted KDStudentTeacher; got DeepSVDD"):
        brittleness(DeepSVDD(epochs=1, pretrain=False, device="cpu").fit(X), X)
    with pytest.raises(NotFittedError):
        teacher_features(KDStudentTeacher(), kd_normal)


def test_reconstruction_error_is_the_pixel_error_of_ama_reconstructions():
    """reconstruction_error(det, X) = mean |G(E(x)) - x| per sample, in evaluation mode."""
    from skdeepad.inspection import reconstruction_error

    det = AMA(epochs=2, n_critic=1, neg_start_epoch=0, device="cpu", random_state=0).fit(X)
    error = reconstruction_error(det, X[:10])
    x = torch.as_tensor(X[:10], dtype=torch.float32)
    det.encoder_.eval(), det.generator_.eval()
    with torch.no_grad():
        expected = (det.generator_(det.encoder_(x)) - x).abs().mean(dim=1).double().numpy()
    np.testing.assert_allclose(error, expected, rtol=1e-5)
    assert reconstruction_error(det, X[:10] + 10).min() > error.max()  # far from the data
    with pytest.raises(TypeError, match="takes a fitted AMA; got DeepSVDD"):
        reconstruction_error(DeepSVDD(epochs=1, pretrain=False, device="cpu").fit(X), X)
    with pytest.raises(NotFittedError):
        reconstruction_error(AMA(), X)
