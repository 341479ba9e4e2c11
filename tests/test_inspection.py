"""Training curves (skdeepad.inspection) and the per-epoch log of verbose=2."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402

from skdeepad import AMA, DeepSAD, DeepSVDD  # noqa: E402
from skdeepad.inspection import plot_history  # noqa: E402

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
