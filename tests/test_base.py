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

from skdeepad import AMA, DROCC, AutoEncoder, DeepSAD, DeepSVDD, fit_stacked
from skdeepad._train import batch_slices, train_loop
from skdeepad.base import ThresholdMixin
from skdeepad.metrics import labeled_roc_auc
from skdeepad.utils import PartialLabels, as_partial_labels, to_partial_labels

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


def test_worker_rank(monkeypatch):
    """A worker's rank is its 1-based process identity - 1, or its integer Dask name."""
    import multiprocessing
    import sys
    import types

    from skdeepad.base import _worker_rank

    assert _worker_rank() is None  # the main process
    process = multiprocessing.current_process()
    monkeypatch.setattr(process, "_identity", (3,))
    assert _worker_rank() == 2
    monkeypatch.setattr(process, "_identity", ())

    def get_worker(name):
        if name is None:
            raise ValueError("No worker found")  # distributed's answer outside a worker
        return types.SimpleNamespace(name=name)

    for name, rank in [(None, None), (4, 4), ("tcp://127.0.0.1:4242", None)]:
        fake = types.SimpleNamespace(get_worker=lambda name=name: get_worker(name))
        monkeypatch.setitem(sys.modules, "distributed", fake)
        assert _worker_rank() == rank


def test_joblib_process_workers_have_an_identity():
    """What _worker_rank reads: joblib's process workers carry a 1-based ``_identity``.

    The workers evaluate a builtin, so they never import torch (seconds each).
    """
    identities = joblib.Parallel(n_jobs=2)(
        joblib.delayed(eval)("__import__('multiprocessing').current_process()._identity")
        for _ in range(2))
    assert all(len(i) >= 1 and i[0] >= 1 for i in identities)


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


# ------------------------------------------------------- labels: 0/1 ground truth
@pytest.mark.parametrize(
    "y, message",
    [
        (np.r_[np.zeros(54, dtype=int), np.ones(6, dtype=int)], r"^y holds only 0 and 1:"),
        (np.r_[np.zeros(54, dtype=bool), np.ones(6, dtype=bool)], r"\(a boolean array\)"),
        (np.ones(60), r"every anomaly would be trained as a known normal"),
    ],
)
def test_ground_truth_labels_are_refused_with_the_fix(X, y, message):
    """y in {0, 1} (or bool) with no -1 is how ground truth is written (1 = anomaly):
    refused, naming the convention and the one-line conversion."""
    for det in (DeepSAD(**FAST), DeepSVDD(**FAST)):
        with pytest.raises(ValueError, match=message):
            det.fit(X, y)
        with pytest.raises(ValueError, match=re.escape("y = skdeepad.utils.to_partial_labels(y)")):
            det.fit(X, y)


def test_partial_labels_with_a_known_anomaly_still_accepted(X):
    """+1 and 0 next to a -1 are unambiguous partial labels, as before."""
    y = np.r_[np.ones(10), np.zeros(45), -np.ones(5)]
    assert np.isfinite(DeepSAD(**FAST).fit(X, y).score_samples(X)).all()


def test_marked_known_normals_only_are_used(X):
    """as_partial_labels lets +1/0 labels through, and DeepSAD then weighs the
    known normals by eta (the scores differ from an unlabeled fit); the mark
    survives the indexing of a cross-validation split."""
    y = np.r_[np.ones(20, dtype=int), np.zeros(40, dtype=int)]
    marked = as_partial_labels(y)
    assert isinstance(marked, PartialLabels) and isinstance(marked[5:50], PartialLabels)
    assert isinstance(marked[np.arange(10, 60)], PartialLabels)
    assert type(marked == 1) is np.ndarray  # derived values are plain arrays
    params = {**FAST, "eta": 10.0}
    labeled = DeepSAD(**params).fit(X, marked).score_samples(X)
    unlabeled = DeepSAD(**params).fit(X).score_samples(X)
    assert not np.allclose(labeled, unlabeled)
    DeepSAD(**params).fit(X[np.arange(10, 60)], marked[np.arange(10, 60)])
    with pytest.raises(ValueError, match=r"only \+1 \(known normal\)"):
        as_partial_labels([0, 1, 2])


def test_to_partial_labels_converts_ground_truth():
    """1 = anomaly becomes -1 (all, a fraction rounded up, or a count), chosen
    by random_state; labeled_normals picks +1 among the normals."""
    y = np.r_[np.zeros(30, dtype=int), np.ones(10, dtype=int)]
    full = to_partial_labels(y)
    assert isinstance(full, PartialLabels) and full.dtype == np.int64
    np.testing.assert_array_equal(full, np.where(y == 1, -1, 0))
    part = to_partial_labels(y, labeled_anomalies=0.25, labeled_normals=4, random_state=0)
    assert (part == -1).sum() == 3 and np.all(y[part == -1] == 1)  # ceil(2.5)
    assert (part == 1).sum() == 4 and np.all(y[part == 1] == 0)
    np.testing.assert_array_equal(
        part, to_partial_labels(y, labeled_anomalies=0.25, labeled_normals=4, random_state=0))
    others = [to_partial_labels(y, labeled_anomalies=3, random_state=s) for s in range(1, 6)]
    assert any(not np.array_equal(o == -1, part == -1) for o in others)
    assert (to_partial_labels(y.astype(bool), labeled_anomalies=0.01) == -1).sum() == 1
    # no anomaly labeled: +1/0 only, and fit still takes it (the result is marked)
    normals_only = to_partial_labels(y, labeled_anomalies=0, labeled_normals=0.5, random_state=0)
    assert set(np.unique(normals_only)) == {0, 1}
    X = np.random.RandomState(0).rand(40, 3)
    DeepSAD(**FAST).fit(X, normals_only)


@pytest.mark.parametrize(
    "y, kwargs, message",
    [
        (np.array([0, 1, -1, 0]), {}, r"looks like partial labels .* pass such labels to fit"),
        (np.array([0, 2, 1]), {}, r"1 \(anomaly\) and 0 \(normal\); got the values \[0, 1, 2\]"),
        (np.array([0, 1, 1]), {"labeled_anomalies": 3}, r"labeled_anomalies=3 asks for more"),
        (np.array([0, 1, 1]), {"labeled_normals": 1.5}, r"'labeled_normals' parameter"),
    ],
)
def test_to_partial_labels_rejects_what_is_not_ground_truth(y, kwargs, message):
    """Partial labels, other values, impossible counts: clear errors."""
    with pytest.raises(ValueError, match=message):
        to_partial_labels(y, **kwargs)


# ---------------------------------------------------- float32 range and NaN scores
def test_values_beyond_float32_are_refused_at_fit_and_predict(X):
    """A finite 1e39 would become inf in float32: a ValueError naming the limit."""
    message = r"magnitude up to 1e\+39, which do not fit in float32 .*3\.403e\+38.*StandardScaler"
    bad = X.copy()
    bad[4, 1] = -1e39
    with pytest.raises(ValueError, match=message):
        DeepSVDD(**FAST).fit(bad)
    det = DeepSVDD(**FAST).fit(X)
    for method in (det.score_samples, det.decision_function, det.predict):
        with pytest.raises(ValueError, match=message):
            method(bad)


def test_overflowing_scores_raise_instead_of_nan_or_inf(X):
    """Rows that overflow the float32 network raise FloatingPointError; never a NaN."""
    det = DeepSVDD(**FAST).fit(X)
    bad = np.r_[X[:3], np.full((2, 4), 1e30)]
    for method in (det.score_samples, det.decision_function, det.predict):
        with pytest.raises(FloatingPointError, match=r"non-finite .* for 2 of 5 samples "
                                                     r"\(first rows: \[3, 4\]"):
            method(bad)


def test_non_finite_training_scores_fail_the_fit(X):
    """A last step that blows the weights up fails the fit instead of leaving a
    model whose scores and offset_ are NaN."""
    det = AutoEncoder(epochs=1, lr=1e30, device="cpu", random_state=0)
    with pytest.raises(FloatingPointError, match=r"epoch 1\b.*lower learning rate"):
        det.fit(X)
    assert not hasattr(det, "offset_") and not hasattr(det, "n_features_in_")


def test_nan_decision_is_never_an_inlier():
    """predict calls a NaN decision an outlier (-1), never an inlier."""

    class Fixed(ThresholdMixin):
        offset_ = 0.0

        def score_samples(self, X):
            return np.array([np.nan, 1.0, -1.0, 0.0])

    np.testing.assert_array_equal(Fixed().predict(None), [-1, 1, -1, 1])


# ------------------------------------------------------------- divergence checks
def _scripted_loop(losses, *, stacked=False, poison_last=False, blow_up=False):
    """train_loop over one parameter, with a step returning scripted epoch losses
    (and, if asked, poisoning the weight in the last epoch or inflating it)."""
    weight = torch.nn.Parameter(torch.ones(2))
    module = torch.nn.Module()
    module.weight = weight
    epochs = len(losses)

    def step(batch, epoch):
        with torch.no_grad():
            if poison_last and epoch == epochs - 1:
                weight.fill_(float("nan"))
            if blow_up:
                weight.mul_(1e7)
        return torch.as_tensor(losses[epoch], dtype=torch.float32)

    data = (torch.zeros(8, 1),)
    draw = (lambda epoch: torch.stack([torch.randperm(8)] * len(losses[0]))) if stacked else None
    return train_loop(step, data, modules=[module], epochs=epochs, batch_size=8, draw=draw)


def test_exploding_loss_stops_with_the_epoch_named():
    """A finite loss a million times the initial one (or 1e6 from below 1, or past
    1e20) is divergence; rises of several orders of magnitude are not."""
    assert len(_scripted_loop([1.0, 1e3, 9e5, 1e2])) == 4
    assert len(_scripted_loop([1e-4, 5e5])) == 2  # small initial loss: the bound is 1e6
    assert len(_scripted_loop([-2.0, -1e6])) == 2  # negative losses by magnitude
    for losses, epoch in [([1.0, 10.0, 2e6], 3), ([1e-4, 2e6], 2), ([1e21], 1),
                          ([3.0, -4e6], 2)]:
        with pytest.raises(FloatingPointError,
                           match=rf"training loss grew to .* in epoch {epoch}\b.*lower "
                                 "learning rate `lr`"):
            _scripted_loop(losses)


def test_exploding_loss_is_checked_per_stacked_model():
    """With (K, m) draws each model has its own bound; the message names the model."""
    assert len(_scripted_loop([[1.0, 1e-3], [1e5, 1e2]], stacked=True)) == 2
    with pytest.raises(FloatingPointError, match=r"stacked model\(s\) \[1\] grew to .* epoch 2"):
        _scripted_loop([[100.0, 1e-3], [1e7, 2e6]], stacked=True)


@pytest.mark.parametrize("stacked", [False, True])
def test_weights_poisoned_by_the_last_step_are_caught(stacked):
    """NaN weights after the last step (its loss was still finite) fail the loop."""
    losses = [[1.0, 1.0], [1.0, 1.0]] if stacked else [1.0, 1.0]
    with pytest.raises(FloatingPointError, match=r"weights became NaN or infinite in epoch 2"):
        _scripted_loop(losses, stacked=stacked, poison_last=True)


@pytest.mark.parametrize("losses", [[0.1, 0.1], [[0.1, 0.2], [0.1, 0.2]]], ids=["lone", "stacked"])
def test_exploding_weights_with_a_bounded_loss_are_caught(losses):
    """A loss that stays bounded while the weights grow a million-fold is divergence."""
    with pytest.raises(FloatingPointError, match=r"weights grew to a norm of .* in epoch 1\b"):
        _scripted_loop(losses, stacked=isinstance(losses[0], list), blow_up=True)


@pytest.mark.parametrize("cls", [DeepSVDD, DeepSAD])
def test_huge_learning_rate_is_reported_not_silently_fitted(X, cls):
    """lr=1e6 with Adam gives finite losses of 1e25, no NaN: now a FloatingPointError."""
    det = cls(epochs=3, pretrain_epochs=2, lr=1e6, device="cpu", random_state=0)
    with pytest.raises(FloatingPointError, match=r"grew to .* in epoch 1\b.*lower learning rate"):
        det.fit(X, np.r_[np.zeros(55), -np.ones(5)])
    assert not hasattr(det, "n_features_in_")


def test_huge_learning_rate_in_a_stack_is_reported_and_rolled_back(X):
    """fit_stacked with lr=1e6: the stacked pretraining's weights explode (its loss
    stays bounded); the error names the epoch and no member is left fitted."""
    members = [DeepSVDD(epochs=3, pretrain_epochs=2, lr=1e6, device="cpu", random_state=s)
               for s in range(2)]
    with pytest.raises(FloatingPointError, match=r"pretraining x2: .* weights grew .* epoch 1"):
        fit_stacked(members, X)
    assert not any(hasattr(m, "n_features_in_") for m in members)


@pytest.mark.filterwarnings("ignore:radius=2 is 5 times:UserWarning")
def test_legitimate_training_does_not_trip_the_divergence_check(blobs):
    """Default settings on small data: DeepSAD with labeled anomalies, DROCC whose
    loss rises when its adversarial phase starts, AMA's adversarial losses."""
    X, y = blobs
    y_fit = to_partial_labels(y, labeled_anomalies=5, random_state=0)
    DeepSAD(epochs=30, pretrain_epochs=30, device="cpu", random_state=0).fit(X, y_fit)
    drocc = DROCC(epochs=8, only_ce_epochs=3, device="cpu", random_state=0).fit(X)
    losses = [r["train_loss"] for r in drocc.history_]
    assert max(losses[3:]) > losses[2]  # the rise the check must tolerate
    AMA(epochs=5, device="cpu", random_state=0).fit(X, y_fit)


def test_training_loop_callbacks_see_every_stage_and_can_stop_it():
    """The loop's hooks: begin, each batch, each epoch (with its history record), end;
    a callback that sets ``stop`` ends training after that epoch."""
    from skdeepad._train import Callback, gradient_step, make_optimizer, train_loop

    events = []

    class Recorder(Callback):
        def on_train_begin(self, loop):
            events.append("begin")

        def on_batch_end(self, loop, loss):
            events.append("batch")

        def on_epoch_end(self, loop, record):
            events.append(("epoch", record["epoch"], len(loop.history)))
            loop.stop = record["epoch"] == 2

        def on_train_end(self, loop):
            events.append("end")

    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    X = torch.randn(40, 3)
    step = gradient_step(lambda x: net(x).pow(2).mean(), make_optimizer(
        "sgd", net.parameters(), lr=0.1, weight_decay=0.0))
    history = train_loop(step, (X,), modules=[net], epochs=5, batch_size=20,
                         callbacks=[Recorder()])
    assert len(history) == 2
    assert events == ["begin", "batch", "batch", ("epoch", 1, 1),
                      "batch", "batch", ("epoch", 2, 2), "end"]
