"""Stacked training: fit_stacked, StackedEnsemble and StackedSearchCV."""

import pickle
import warnings

import numpy as np
from skdeepad.utils import as_partial_labels
import pytest
import torch
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold

import skdeepad._deep_sad
from skdeepad import (AutoEncoder, AutoEncoderFeatures, DeepBinaryClassifier, DeepSAD,
                      DeepSVDD, DROCC, DROCCLF, fit_stacked)
from skdeepad._stacked import StackedFallbackWarning, StackedMLP
from skdeepad.ensemble import StackedEnsemble
from skdeepad.metrics import make_labeled_scorer
from skdeepad.model_selection import StackedSearchCV
from skdeepad.networks import MLP

FAST = dict(epochs=4, pretrain_epochs=3, batch_size=32, device="cpu")
RTOL = 1e-5  # the documented tolerance of a stacked member against its lone fit


@pytest.fixture
def labeled(blobs):
    """The blobs with 4 of the 10 anomalies labeled -1 and 20 normals labeled +1."""
    X, y = blobs
    y_partial = np.zeros(len(X))
    y_partial[200:204] = -1
    y_partial[:20] = 1
    return X, y_partial


def _assert_same_fit(stacked, lone, X):
    """A stacked member and its lone fit agree on everything they learned."""
    assert type(stacked) is type(lone)
    assert sorted(vars(stacked)) == sorted(vars(lone))
    np.testing.assert_allclose(stacked.score_samples(X), lone.score_samples(X), rtol=RTOL,
                               atol=1e-7)
    assert stacked.offset_ == pytest.approx(lone.offset_, rel=RTOL)
    for name in ("center_", "radius_", "hidden_layer_sizes_", "input_shape_"):
        if getattr(lone, name, None) is not None:
            np.testing.assert_allclose(getattr(stacked, name), getattr(lone, name), rtol=RTOL)
        elif hasattr(lone, name):
            assert getattr(stacked, name) is None
    for name in ("history_", "pretrain_history_"):
        if hasattr(lone, name):
            a, b = getattr(stacked, name), getattr(lone, name)
            assert [r["lr"] for r in a] == [r["lr"] for r in b]
            np.testing.assert_allclose([r["train_loss"] for r in a],
                                       [r["train_loss"] for r in b], rtol=RTOL)
    weights = stacked.network_.state_dict()
    for key, value in lone.network_.state_dict().items():
        torch.testing.assert_close(weights[key], value, rtol=RTOL, atol=1e-6)


def test_stacked_deep_svdd_members_equal_lone_fits(blobs):
    """One-class Deep SVDD: each stacked member equals the same estimator fitted alone."""
    X, _ = blobs
    make = [lambda: DeepSVDD(random_state=s, **FAST) for s in (0, 1, 7)]
    stacked = fit_stacked([m() for m in make], X)
    for est, m in zip(stacked, make):
        _assert_same_fit(est, m().fit(X), X)


def test_stacked_soft_boundary_members_with_different_nu_equal_lone_fits(blobs):
    """Soft-boundary Deep SVDD past the warm-up, nu differing per member."""
    X, _ = blobs
    params = dict(FAST, objective="soft-boundary", epochs=12)
    make = [lambda s=s, nu=nu: DeepSVDD(nu=nu, random_state=s, **params)
            for s, nu in [(0, 0.1), (1, 0.3)]]
    stacked = fit_stacked([m() for m in make], X)
    for est, m in zip(stacked, make):
        _assert_same_fit(est, m().fit(X), X)
    assert stacked[0].radius_ != stacked[1].radius_


def test_stacked_deep_sad_with_labels_and_mixed_settings_equals_lone_fits(labeled):
    """Deep SAD with pretraining: eta, lr, weight decay and sampling may differ per member."""
    X, y = labeled
    settings = [dict(eta=1.0, lr=1e-3), dict(eta=3.0, lr=1e-4, sampling="balanced"),
                dict(eta=0.5, lr=1e-3, weight_decay=1e-3), dict(eta=1.0, lr=1e-3)]
    make = [lambda s=s, kw=kw: DeepSAD(random_state=s, **kw, **FAST)
            for s, kw in enumerate(settings)]
    stacked = fit_stacked([m() for m in make], X, y)
    for est, m in zip(stacked, make):
        _assert_same_fit(est, m().fit(X, y), X)


def test_stacked_autoencoders_equal_lone_fits(labeled):
    """AutoEncoder and AutoEncoderFeatures: same reconstruction, same features."""
    X, y = labeled
    make = [lambda s=s: AutoEncoder(random_state=s, epochs=5, batch_size=32, device="cpu")
            for s in range(3)]
    stacked = fit_stacked([m() for m in make], X, y)
    for est, m in zip(stacked, make):
        _assert_same_fit(est, m().fit(X, y), X)
    features = fit_stacked([AutoEncoderFeatures(random_state=s, epochs=3, device="cpu")
                            for s in range(2)], X)
    lone = AutoEncoderFeatures(random_state=1, epochs=3, device="cpu").fit(X)
    np.testing.assert_allclose(features[1].transform(X), lone.transform(X), rtol=RTOL, atol=1e-7)


def test_members_are_ordinary_estimators_that_pickle(blobs):
    """Stacked members are plain fitted instances: they pickle and score like lone fits."""
    X, _ = blobs
    models = fit_stacked([DeepSAD(random_state=s, **FAST) for s in range(2)], X)
    assert all(type(m) is DeepSAD for m in models)
    loaded = pickle.loads(pickle.dumps(models[1]))
    np.testing.assert_array_equal(loaded.score_samples(X), models[1].score_samples(X))
    np.testing.assert_array_equal(loaded.predict(X), models[1].predict(X))


def test_fit_stacked_leaves_the_global_rng_alone(blobs):
    """Like fit, fit_stacked draws from forked generators only."""
    X, _ = blobs
    state = torch.get_rng_state()
    fit_stacked([DeepSVDD(random_state=s, **FAST) for s in range(2)], X)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("param, values", [
    ("hidden_layer_sizes", [(8, 4), (16, 4)]),
    ("batch_size", [32, 64]),
    ("epochs", [2, 3]),
    ("pretrain", [True, False]),
    ("objective", ["one-class", "soft-boundary"]),
])
def test_shape_changing_parameters_must_agree(blobs, param, values):
    """Different shapes or loop structure: a ValueError naming the parameter."""
    X, _ = blobs
    estimators = [DeepSVDD(**{**FAST, param: v}) for v in values]
    with pytest.raises(ValueError, match=f"same '{param}'"):
        fit_stacked(estimators, X)


def test_mixed_classes_and_empty_lists_are_rejected(blobs):
    """Only one class per stack; at least one estimator."""
    X, _ = blobs
    with pytest.raises(ValueError, match="one class"):
        fit_stacked([DeepSVDD(**FAST), DeepSAD(**FAST)], X)
    with pytest.raises(ValueError, match="at least one"):
        fit_stacked([], X)


def test_custom_network_falls_back_to_sequential_fits_with_a_warning(blobs):
    """A custom network is not stacked: the same results, fitted one after another."""
    X, _ = blobs
    net = MLP(5, (8, 4))
    make = [lambda s=s: DeepSVDD(network=net, pretrain=False, random_state=s, **FAST)
            for s in range(2)]
    with pytest.warns(StackedFallbackWarning, match="custom `network`"):
        models = fit_stacked([m() for m in make], X)
    np.testing.assert_array_equal(models[1].score_samples(X), make[1]().fit(X).score_samples(X))


def test_stacked_mlp_keeps_one_weight_tensor_per_layer_for_k_models():
    """Weights are stacked on a leading axis; BatchNorm statistics are per model."""
    nets = [MLP(5, (8, 4)) for _ in range(3)]
    stacked = StackedMLP(nets)
    assert [tuple(p.shape) for p in stacked.parameters()] == [(3, 8, 5), (3, 4, 8)]
    x = torch.randn(3, 16, 5)
    x[1] *= 10  # a model's batch statistics must not leak into another's
    stacked.train()
    out = stacked(x)
    for k, net in enumerate(nets):
        net.train()
        torch.testing.assert_close(out[k], net(x[k]))
    stacked.unstack_into(nets)
    assert torch.equal(nets[1].net[2].running_mean, stacked.running_mean0.view(3, 8)[1])


def test_ensemble_combines_standardised_member_scores(labeled):
    """Ensemble score = mean over members of (score - training mean) / training std."""
    X, y = labeled
    det = StackedEnsemble(DeepSAD(**FAST), n_members=3, random_state=0).fit(X, y)
    raw = np.stack([m.score_samples(X) for m in det.estimators_])
    train = raw[:, y != -1]
    expected = ((raw - train.mean(1, keepdims=True)) / train.std(1, keepdims=True)).mean(0)
    np.testing.assert_allclose(det.score_samples(X), expected, rtol=1e-10)
    lone = DeepSAD(random_state=int(det.member_seeds_[2]), **FAST).fit(X, y)
    np.testing.assert_allclose(det.estimators_[2].score_samples(X), lone.score_samples(X),
                               rtol=RTOL, atol=1e-7)
    assert len(set(det.member_seeds_)) == 3


def test_ensemble_pickles_and_detects_anomalies(blobs):
    """A fitted ensemble loads with the same scores, and ranks the far points last."""
    X, y = blobs
    det = StackedEnsemble(DeepSVDD(**FAST), n_members=3, random_state=0).fit(X[y == 0])
    loaded = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))
    np.testing.assert_array_equal(loaded.predict(X), det.predict(X))
    assert roc_auc_score(y, -det.score_samples(X)) > 0.95
    assert np.mean(det.predict(X[y == 0]) == -1) == pytest.approx(0.1, abs=0.01)


def test_stacked_search_equals_grid_search(labeled):
    """Same cv_results_ keys and test scores as GridSearchCV, with fewer, stacked fits."""
    X, y = labeled
    y = np.where(y == 0, 1, y)  # every fold needs labeled normals and anomalies
    est = DeepSAD(random_state=0, **FAST)
    grid = {"eta": [0.5, 2.0], "lr": [1e-4, 1e-3], "hidden_layer_sizes": [(8, 4), (16, 4)]}
    kwargs = dict(cv=StratifiedKFold(2, shuffle=True, random_state=0),
                  scoring=make_labeled_scorer("roc_auc"), return_train_score=True)
    stacked = StackedSearchCV(est, grid, **kwargs).fit(X, y)
    plain = GridSearchCV(est, grid, **kwargs).fit(X, y)
    assert stacked.n_stacks_ == 2  # one stack per hidden_layer_sizes
    assert sorted(stacked.cv_results_) == sorted(plain.cv_results_)
    for key in ("mean_test_score", "split0_test_score", "mean_train_score", "rank_test_score"):
        np.testing.assert_allclose(stacked.cv_results_[key], plain.cv_results_[key], rtol=RTOL)
    assert stacked.best_params_ == plain.best_params_
    np.testing.assert_allclose(stacked.best_estimator_.score_samples(X),
                               plain.best_estimator_.score_samples(X), rtol=RTOL)


def test_stacked_search_gives_failing_candidates_error_score(blobs):
    """A stack with a diverging member is refitted one by one; only that one gets NaN."""
    X, y = blobs
    y = np.where(y == 1, -1, 1)
    est = DeepSVDD(pretrain=False, random_state=0, **FAST)
    search = StackedSearchCV(est, {"lr": [1e-3, 1e30]}, cv=StratifiedKFold(2),
                             scoring=make_labeled_scorer("roc_auc"), error_score=np.nan,
                             refit=False)
    with pytest.warns(FitFailedWarning, match="2 fits failed out of a total of 4"):
        search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores[0]) and np.isnan(scores[1])


def test_stacked_members_equal_lone_fits_on_cpu(labeled):
    """Stacked and lone kernels round differently, but weights and scores agree to
    float32 rounding (1e-5 relative).

    203 rows with batch 50: the last batch of 3 rows is folded into the one
    before it (53 rows), in the stack as in the lone fit.
    """
    X, y = labeled
    X, y = X[:203], as_partial_labels(np.where(y[:203] == -1, 0, y[:203]))
    params = dict(FAST, batch_size=50)
    stacked = fit_stacked([DeepSAD(random_state=s, **params) for s in range(3)], X, y)
    lone = DeepSAD(random_state=2, **params).fit(X, y)
    np.testing.assert_allclose(stacked[2].score_samples(X), lone.score_samples(X),
                               rtol=1e-5, atol=1e-7)
    for key, value in lone.network_.state_dict().items():
        np.testing.assert_allclose(stacked[2].network_.state_dict()[key].numpy(),
                                   value.numpy(), rtol=1e-5, atol=1e-7, err_msg=key)


def test_per_estimator_data_equals_lone_fits_on_each_set():
    """per_estimator=True: each member trains on its own split, as its lone fit would."""
    rng = np.random.RandomState(1)
    splits = []
    for _ in range(3):
        X = np.r_[rng.rand(120, 6), rng.rand(3, 6) + 2]
        splits.append((X, np.r_[np.zeros(120), -np.ones(3)]))
    Xs, ys = zip(*splits)
    for cls in (DeepSVDD, DeepSAD):
        make = [lambda s=s: cls(random_state=s, **FAST) for s in range(3)]
        stacked = fit_stacked([m() for m in make], Xs, ys, per_estimator=True)
        for est, m, (X, y) in zip(stacked, make, splits):
            _assert_same_fit(est, m().fit(X, y), X)
    with pytest.raises(ValueError, match="same shape"):
        fit_stacked([DeepSVDD(**FAST) for _ in range(2)], [Xs[0], Xs[1][:-1]], None,
                    per_estimator=True)


def test_lenet_cnn_members_equal_lone_fits():
    """1x28x28 images: the LeNet autoencoder (pretraining) and encoder are stacked
    with vmap, and each member equals its lone fit."""
    X = np.random.RandomState(0).rand(24, 1, 28, 28)
    make = [lambda s=s: DeepSAD(epochs=2, pretrain_epochs=2, batch_size=8, device="cpu",
                                random_state=s) for s in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", StackedFallbackWarning)
        stacked = fit_stacked([m() for m in make], X)
    for est, m in zip(stacked, make):
        _assert_same_fit(est, m().fit(X), X)


@pytest.mark.parametrize("cls", [DROCC, DROCCLF])
def test_drocc_members_equal_lone_fits(cls):
    """DROCC and DROCC-LF: the adversarial search runs batched over the members, each
    drawing its own starting points and far radii; lamda, radius, gamma differ."""
    X = np.random.RandomState(0).randn(150, 5)
    settings = [dict(lamda=1.0, radius=2.0), dict(lamda=0.5, radius=3.0, gamma=1.5),
                dict(lamda=1.0, radius=2.0, ascent_step_size=0.05)]
    make = [lambda s=s, kw=kw: cls(random_state=s, epochs=3, batch_size=64,
                                   ascent_num_steps=6, device="cpu", **kw)
            for s, kw in enumerate(settings)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", StackedFallbackWarning)
        stacked = fit_stacked([m() for m in make], X)
    for est, m in zip(stacked, make):
        _assert_same_fit(est, m().fit(X), X)


def test_supervised_baseline_members_equal_lone_fits(labeled):
    X, y = labeled
    make = [lambda s=s: DeepBinaryClassifier(random_state=s, epochs=4, batch_size=32,
                                             device="cpu") for s in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", StackedFallbackWarning)
        stacked = fit_stacked([m() for m in make], X, y)
    for est, m in zip(stacked, make):
        _assert_same_fit(est, m().fit(X, y), X)


def test_changing_the_loss_once_changes_lone_and_stacked_fits(labeled, monkeypatch):
    """Deep SAD's objective is defined once: patching it changes both kinds of fit alike."""
    X, y = labeled
    make = [lambda s=s: DeepSAD(random_state=s, **FAST) for s in range(2)]
    before = make[1]().fit(X, y).score_samples(X)
    original = skdeepad._deep_sad.deep_sad_loss
    calls = []

    def doubled_eta(dist, semi_targets, eta=1.0, eps=1e-6):
        calls.append(dist.shape)
        return original(dist, semi_targets, 10 * eta, eps)

    monkeypatch.setattr(skdeepad._deep_sad, "deep_sad_loss", doubled_eta)
    lone = make[1]().fit(X, y)
    stacked = fit_stacked([m() for m in make], X, y)
    assert {shape[0] for shape in calls} == {1, 2}  # lone: K = 1, stacked: K = 2
    assert not np.allclose(lone.score_samples(X), before, rtol=1e-3)
    _assert_same_fit(stacked[1], lone, X)


def test_unstackable_networks_and_data_fall_back_to_sequential_fits():
    """DROCC's LSTM (sequences) and DROCC with known negatives are fitted one by one."""
    X = np.random.RandomState(0).randn(20, 4, 3)
    make = [lambda s=s: DROCC(radius=1.0, epochs=1, ascent_num_steps=2, device="cpu",
                              random_state=s) for s in range(2)]
    with pytest.warns(StackedFallbackWarning, match="LSTM"):
        models = fit_stacked([m() for m in make], X)
    np.testing.assert_array_equal(models[0].score_samples(X), make[0]().fit(X).score_samples(X))
    X, y = X.reshape(20, -1), np.r_[np.zeros(18), -np.ones(2)]
    with pytest.warns(StackedFallbackWarning, match="known negatives"):
        fit_stacked([m() for m in make], X, y)
