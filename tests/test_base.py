"""The shared estimator machinery: inputs, labels, seeding, devices, loop, persistence."""

import pickle
import re

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepad import AutoEncoder, DeepSAD, DeepSVDD
from skdeepad._train import batch_slices
from skdeepad.metrics import labeled_roc_auc

FAST = dict(epochs=3, pretrain_epochs=2, batch_size=32, device="cpu", random_state=0)


@pytest.fixture
def X():
    return np.random.RandomState(0).rand(60, 4)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.array([[np.nan, 1.0], [0.0, 1.0], [1.0, 0.0]]), ValueError, "Input X contains NaN"),
        (np.array([[np.inf, 1.0], [0.0, 1.0], [1.0, 0.0]]), ValueError, "Input X contains inf"),
        (sp.csr_matrix(np.eye(3)), TypeError, "Sparse data was passed for X, but dense"),
        (np.array([[1.0, 2.0]]), ValueError, "minimum of 2 is required"),
        (np.ones((5, 3)), ValueError, "All features of X are constant"),
        (np.array([1.0, 2.0, 3.0]), ValueError, "Expected 2D array"),
    ],
)
def test_bad_X_raises_clear_error(bad, error, message):
    """NaN, inf, sparse, one sample, constant data and 1-D input are refused."""
    with pytest.raises(error, match=re.escape(message)):
        DeepSAD(**FAST).fit(bad)


def test_constant_feature_warns(X):
    """A constant column is reported: it acts like a bias and invites collapse."""
    X = X.copy()
    X[:, 2] = 1.0
    with pytest.warns(UserWarning, match=r"Features \[2\] are constant"):
        DeepSVDD(**FAST).fit(X)


@pytest.mark.parametrize(
    "y, message",
    [
        (np.r_[np.zeros(59), 2], r"only \+1 \(known normal\), -1 \(known anomaly\) and 0 .*\[2\.0\]"),
        (np.array(["a"] * 60), r"only \+1 .*\['a'\]"),
        (-np.ones(60), "Every sample is labeled -1"),
        (np.zeros(59), "inconsistent numbers of samples"),
    ],
)
def test_bad_labels_raise_clear_error(X, y, message):
    """Labels outside +1/-1/0, all -1, or of the wrong length are refused."""
    with pytest.raises(ValueError, match=message):
        DeepSAD(**FAST).fit(X, y)


def test_wrong_input_shape_raises(X):
    """input_shape must describe one sample of X."""
    with pytest.raises(ValueError, match=r"input_shape=\(2, 3\) describes 6 values"):
        DeepSAD(input_shape=(2, 3), **FAST).fit(X)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"lr": -1.0}, "'lr' parameter of DeepSAD must be a float in the range"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes must be a sequence of positive"),
        ({"n_iter_no_change": 3}, "requires a held-out set"),
        ({"device": "tpu:0"}, "device='tpu:0'"),
        ({"contamination": 0.7}, "'contamination' parameter"),
    ],
)
def test_bad_parameters_raise_at_fit(X, params, message):
    """Parameters are checked at fit time with messages naming them."""
    with pytest.raises(ValueError, match=re.escape(message)):
        DeepSAD(**{**FAST, **params}).fit(X)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_request_without_cuda_raises(X):
    """Asking for CUDA where there is none says so."""
    with pytest.raises(ValueError, match="CUDA is not available"):
        DeepSAD(**{**FAST, "device": "cuda"}).fit(X)


def test_fit_with_fewer_samples_than_batch_size():
    """Ten samples with batch_size=200 train on all ten, every epoch."""
    X = np.random.RandomState(1).rand(10, 3)
    det = DeepSAD(epochs=2, pretrain_epochs=1, device="cpu", random_state=0).fit(X)
    assert len(det.history_) == 2 and np.isfinite(det.score_samples(X)).all()


@pytest.mark.parametrize("n, bs", [(10, 200), (201, 200), (400, 200), (403, 100), (2, 1)])
def test_batches_cover_every_sample(n, bs):
    """Batches partition range(n); no batch holds a single sample unless bs == 1."""
    slices = batch_slices(n, bs)
    assert np.array_equal(np.concatenate([np.arange(a, b) for a, b in slices]), np.arange(n))
    assert bs == 1 or all(b - a > 1 for a, b in slices)


def test_final_batch_is_never_smaller_than_half_a_batch():
    """A trailing remainder below bs / 2 joins the previous batch; a larger one stays.

    ODDS cardio's 1003 training rows in batches of 200 used to end every epoch
    with a 3-row batch that BatchNorm normalised on its own.
    """
    for bs in (1, 2, 3, 7, 64, 128, 200):
        for n in range(bs + 1, 5 * bs + 3):
            sizes = [b - a for a, b in batch_slices(n, bs)]
            assert sum(sizes) == n
            assert min(sizes) * 2 >= bs and max(sizes) < 1.5 * bs + 1, (n, bs, sizes)
            assert sizes[:-1] == [bs] * (len(sizes) - 1)
    assert [b - a for a, b in batch_slices(1003, 200)] == [200, 200, 200, 200, 203]
    assert [b - a for a, b in batch_slices(1003, 128)] == [128] * 7 + [107]


def test_same_random_state_gives_identical_scores(X):
    """Two fits with one seed agree bit for bit; another seed differs; global RNG untouched."""
    state = torch.random.get_rng_state()
    a = DeepSAD(**FAST).fit(X).score_samples(X)
    b = DeepSAD(**FAST).fit(X).score_samples(X)
    c = DeepSAD(**{**FAST, "random_state": 1}).fit(X).score_samples(X)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert torch.equal(state, torch.random.get_rng_state())


def test_user_network_is_left_in_training_mode(X):
    """Fitting and scoring never switch the user's own module (a parameter) to eval mode."""
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 4, bias=False))
    det = DeepSVDD(network=net, pretrain=False, epochs=2, device="cpu", random_state=0).fit(X)
    det.score_samples(X)
    assert net.training


def test_parameters_are_not_mutated(X):
    """device stays as given; the resolved device is device_."""
    det = DeepSAD(**{**FAST, "device": "auto"}).fit(X)
    assert det.device == "auto" and isinstance(det.device_, torch.device)
    assert clone(det).get_params() == det.get_params()


def _fake_gpus(monkeypatch, count):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


@pytest.mark.parametrize("rank, expected", [(None, None), (0, 0), (1, 1), (2, 0), (5, 1)])
def test_parallel_workers_spread_over_gpus(monkeypatch, rank, expected):
    """'auto'/'cuda' in the k-th worker picks GPU k % count; the main process keeps 'cuda'."""
    import skdeepad.base as base

    _fake_gpus(monkeypatch, 2)
    monkeypatch.setattr(base, "_worker_rank", lambda: rank)
    for device in ("auto", "cuda"):
        assert base.resolve_device(device) == torch.device("cuda", expected)
    assert base.resolve_device("cuda:1") == torch.device("cuda", 1)  # an explicit index wins


def test_one_gpu_is_never_remapped(monkeypatch):
    """With a single GPU every worker uses it."""
    import skdeepad.base as base

    _fake_gpus(monkeypatch, 1)
    monkeypatch.setattr(base, "_worker_rank", lambda: 3)
    assert base.resolve_device("cuda") == torch.device("cuda")


def test_worker_rank_in_joblib_processes():
    """joblib's process workers report distinct ranks; the main process reports none."""
    from skdeepad.base import _worker_rank

    assert _worker_rank() is None
    ranks = joblib.Parallel(n_jobs=2)(joblib.delayed(_worker_rank)() for _ in range(8))
    assert all(isinstance(r, int) and r >= 0 for r in ranks)


def test_contamination_sets_offset_like_isolation_forest(X):
    """offset_ is the contamination quantile of the training scores."""
    det = DeepSAD(**{**FAST, "contamination": 0.2}).fit(X)
    assert det.offset_ == pytest.approx(np.percentile(det.score_samples(X), 20))
    np.testing.assert_allclose(det.decision_function(X), det.score_samples(X) - det.offset_)
    assert np.mean(det.predict(X) == -1) == pytest.approx(0.2, abs=1 / 60)
    assert det.predict(X).dtype.kind == "i"


def test_pickle_round_trip_keeps_scores(X, tmp_path):
    """pickle and joblib restore a model that scores identically."""
    det = DeepSAD(**FAST).fit(X)
    again = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(again.score_samples(X), det.score_samples(X))
    joblib.dump(det, tmp_path / "det.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "det.joblib").score_samples(X),
                                  det.score_samples(X))


def test_pickle_stores_cpu_weights_without_code(X):
    """The network's weights travel as a torch.save blob read with weights_only=True."""
    det = AutoEncoder(epochs=1, device="cpu", random_state=0).fit(X)
    state = det.__getstate__()
    packed = state["network_"]
    blob = torch.load(__import__("io").BytesIO(packed.weights), weights_only=True)
    assert all(t.device.type == "cpu" for t in blob.values())
    assert all(p.device.type == "meta" for p in packed.skeleton.parameters())
    assert isinstance(det.network_, torch.nn.Module)  # pickling left the estimator intact


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a CPU-only machine")
def test_gpu_fitted_model_loads_on_cpu(X):
    """A model whose device_ is CUDA unpickles on a CPU-only machine, with a warning."""
    det = DeepSAD(**FAST).fit(X)
    expected = det.score_samples(X)
    det.device_ = torch.device("cuda", 0)  # as if fitted on a GPU
    blob = pickle.dumps(det)
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        again = pickle.loads(blob)
    assert again.device_.type == "cpu"
    np.testing.assert_array_equal(again.score_samples(X), expected)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_fit_then_cpu_scores(X):
    """A CUDA fit pickles to CPU tensors and scores the same on the CPU."""
    det = DeepSAD(**{**FAST, "device": "cuda"}).fit(X)
    state = det.__getstate__()
    state["device_"] = torch.device("cpu")
    cpu = DeepSAD.__new__(DeepSAD)
    cpu.__setstate__(state)
    np.testing.assert_allclose(cpu.score_samples(X), det.score_samples(X), rtol=1e-4, atol=1e-6)


def test_pipeline_grid_search_over_eta():
    """clone + Pipeline(StandardScaler, DeepSAD) + GridSearchCV over eta with partial labels."""
    rng = np.random.RandomState(0)
    X = np.r_[rng.randn(150, 4), rng.randn(30, 4) + 3]
    y = np.r_[np.zeros(120), np.ones(30), -np.ones(30)]
    order = rng.permutation(len(X))
    X, y = X[order], y[order]
    pipe = make_pipeline(StandardScaler(), DeepSAD(**FAST))
    search = GridSearchCV(clone(pipe), {"deepsad__eta": [0.5, 2.0]}, scoring=labeled_roc_auc,
                          cv=2)
    search.fit(X, y)
    assert search.best_params_["deepsad__eta"] in (0.5, 2.0)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.predict(X).shape == (180,)


def test_diverging_loss_names_the_epoch():
    """A NaN or infinite loss stops the fit, naming the epoch and suggesting a lower lr."""
    X = np.random.RandomState(0).rand(40, 3) * 1e30  # BatchNorm variances overflow float32
    with pytest.raises(FloatingPointError, match=r"epoch 1\b.*lower learning rate `lr`"):
        DeepSVDD(pretrain=False, epochs=2, device="cpu", random_state=0).fit(X)


def test_history_records_every_epoch_and_the_schedule(X):
    """history_ has one record per epoch; the lr drops by 10 after each milestone."""
    det = DeepSAD(**{**FAST, "epochs": 4, "lr": 1e-3, "lr_milestones": (2,)}).fit(X)
    assert [r["epoch"] for r in det.history_] == [1, 2, 3, 4]
    assert [r["lr"] for r in det.history_] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])
    assert len(det.pretrain_history_) == 2
    assert all(r["dur"] > 0 for r in det.history_)


def test_early_stopping_on_validation_loss(X):
    """With a held-out split, training stops once the validation loss stalls."""
    det = AutoEncoder(epochs=500, lr=0.05, batch_size=16, validation_fraction=0.25,
                      n_iter_no_change=2, device="cpu", random_state=0).fit(X)
    losses = [r["valid_loss"] for r in det.history_]
    assert len(losses) < 500
    assert min(losses[:-2]) <= min(losses[-2:])


def test_verbose_shows_a_progress_bar(X, capsys):
    """verbose=1 prints a tqdm bar labelled with the estimator."""
    DeepSAD(**{**FAST, "verbose": 1}).fit(X)
    assert "DeepSAD" in capsys.readouterr().err


def test_hidden_layer_sizes_as_array(X):
    """hidden_layer_sizes may be any sequence, a numpy array included."""
    det = DeepSVDD(**{**FAST, "hidden_layer_sizes": np.array([8, 3])}).fit(X)
    assert det.hidden_layer_sizes_ == (8, 3) and det.center_.shape == (3,)


@pytest.mark.parametrize("cls", [DeepSAD, DeepSVDD])
def test_validation_loss_recorded_for_hypersphere_methods(X, cls):
    """Deep SVDD/SAD record a validation loss for training and pretraining."""
    y = np.r_[np.zeros(55), -np.ones(5)]
    det = cls(**{**FAST, "validation_fraction": 0.2}).fit(X, y)
    assert all(np.isfinite(r["valid_loss"]) for r in det.history_ + det.pretrain_history_)
