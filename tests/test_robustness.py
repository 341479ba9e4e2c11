"""Every deep estimator under failures and bad or extreme input (issue 17).

Two properties, checked over all estimators:

* **Atomic fit.**  A fit that raises -- a diverged optimisation, an error
  inside a forward pass, ``KeyboardInterrupt`` -- leaves the estimator as it
  was: an unfitted one stays unfitted (no attribute ending in ``_``), a
  fitted one keeps its model and scores.
* **No silent garbage.**  NaN, inf, values beyond float32, constant data, a
  single row, fewer rows than a batch, 0/1 or boolean labels: each either
  raises a documented error (ValueError, TypeError or FloatingPointError)
  with a message, or gives finite scores and +1/-1 predictions.  The inputs
  are never modified.

Everything is tiny (40 rows, 4 features, one or two epochs).
"""

import re
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from torch import nn

import skdeepad.base
import skdeepad._stacked
from skdeepad import (
    ADRA,
    AMA,
    AutoEncoder,
    AutoEncoderFeatures,
    DeepBinaryClassifier,
    DeepSAD,
    DeepSVDD,
    DROCC,
    DROCCLF,
    KDStudentTeacher,
    fit_stacked,
)

TINY = dict(epochs=2, batch_size=32, device="cpu", random_state=0)


def _tiny_cnn():
    """ADRA's backbone: a seeded 3x3 convolution reading a row as a 1 x 1 x d image."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Unflatten(1, (1, 1, -1)),
                             nn.Conv2d(1, 2, 3, padding=1, bias=False),
                             nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten())


FACTORIES = {
    "DeepSVDD": lambda: DeepSVDD(pretrain_epochs=1, hidden_layer_sizes=(8, 4), **TINY),
    "DeepSAD": lambda: DeepSAD(pretrain_epochs=1, hidden_layer_sizes=(8, 4), **TINY),
    "AutoEncoder": lambda: AutoEncoder(hidden_layer_sizes=(8, 4), **TINY),
    "AutoEncoderFeatures": lambda: AutoEncoderFeatures(hidden_layer_sizes=(8, 4), **TINY),
    "DROCC": lambda: DROCC(only_ce_epochs=1, ascent_num_steps=1, hidden_layer_sizes=(8,),
                           **TINY),
    "DROCCLF": lambda: DROCCLF(only_ce_epochs=1, ascent_num_steps=1, hidden_layer_sizes=(8,),
                               **TINY),
    "AMA": lambda: AMA(n_critic=1, neg_start_epoch=0, **TINY),
    "ADRA": lambda: ADRA(backbone=_tiny_cnn(), lr=0.01, **TINY),
    "KDStudentTeacher": lambda: KDStudentTeacher(hidden_layer_sizes=(8, 8), head_dim=4,
                                                 lr=1e-3, **TINY),
    "DeepBinaryClassifier": lambda: DeepBinaryClassifier(hidden_layer_sizes=(8,), **TINY),
}
NAMES = list(FACTORIES)
DOCUMENTED_ERRORS = (ValueError, TypeError, FloatingPointError)


def _data(n=40, seed=0):
    """``n`` rows in [0, 1]^4 and partial labels with every 8th row a known anomaly.

    The known anomalies serve ADRA (its outlier-exposure corpus) and the
    supervised baseline, which need some; the others drop or use them.
    """
    X = np.random.RandomState(seed).rand(n, 4)
    y = np.where(np.arange(n) % 8 == 0, -1, 0)
    return X, y


def _scores(det, X):
    """What an estimator outputs for X: scores, or features for the transformer."""
    if isinstance(det, AutoEncoderFeatures):
        return det.transform(X)
    return det.score_samples(X)


def _fitted_state(det):
    return {k: v for k, v in vars(det).items() if k.endswith("_")}


@pytest.fixture
def quiet():
    """Silence the methods' advisory warnings (tiny data, constant columns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------- atomic fit
def _boom(exc, after=3):
    """An nn.Linear.forward that raises ``exc`` from its ``after``-th call on."""
    forward, calls = nn.Linear.forward, [0]

    def failing_forward(module, x):
        calls[0] += 1
        if calls[0] >= after:
            raise exc("injected failure inside a forward pass")
        return forward(module, x)

    return failing_forward


def _fail_fit(det, kind, X, y, monkeypatch):
    """Fit ``det`` so that it fails in the way ``kind`` names, and check that it raises."""
    if kind == "diverged":
        det.set_params(lr=1e30)
        expected = FloatingPointError
    else:
        expected = {"error-in-forward": RuntimeError, "interrupt": KeyboardInterrupt}[kind]
        monkeypatch.setattr(nn.Linear, "forward", _boom(expected))
    try:
        with pytest.raises(expected):
            det.fit(X, y)
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize("kind", ["diverged", "error-in-forward", "interrupt"])
@pytest.mark.parametrize("name", NAMES)
def test_failed_fit_leaves_fresh_estimator_unfitted(name, kind, monkeypatch, quiet):
    """A first fit that raises leaves no fitted attribute: the estimator is unfitted."""
    X, y = _data()
    det = FACTORIES[name]()
    _fail_fit(det, kind, X, y, monkeypatch)
    assert _fitted_state(det) == {}
    with pytest.raises(NotFittedError):
        check_is_fitted(det)
    with pytest.raises(NotFittedError):
        _scores(det, X)
    # and it still fits normally afterwards
    det.set_params(lr=FACTORIES[name]().lr)
    assert np.isfinite(_scores(det.fit(X, y), X)).all()


@pytest.mark.parametrize("kind", ["diverged", "error-in-forward", "interrupt"])
@pytest.mark.parametrize("name", NAMES)
def test_failed_refit_keeps_previous_model(name, kind, monkeypatch, quiet):
    """A refit that raises keeps the previous model: same objects, same scores."""
    X, y = _data()
    det = FACTORIES[name]().fit(X, y)
    before = _fitted_state(det)
    scores = _scores(det, X)
    predictions = None if isinstance(det, AutoEncoderFeatures) else det.predict(X)
    _fail_fit(det, kind, *_data(seed=1), monkeypatch)
    after = _fitted_state(det)
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)
    np.testing.assert_array_equal(_scores(det, X), scores)
    if predictions is not None:
        np.testing.assert_array_equal(det.predict(X), predictions)


def test_interrupt_from_the_training_loop_is_atomic(monkeypatch, quiet):
    """KeyboardInterrupt from an epoch callback (the loop itself) also rolls back."""
    real = skdeepad._stacked.train_loop

    def interrupted(step, data, **kwargs):
        def on_epoch_end(epoch, record):
            raise KeyboardInterrupt

        return real(step, data, **{**kwargs, "on_epoch_end": on_epoch_end})

    X, y = _data()
    det = DeepSAD(**{**TINY, "pretrain": False})
    monkeypatch.setattr(skdeepad._stacked, "train_loop", interrupted)
    with pytest.raises(KeyboardInterrupt):
        det.fit(X, y)
    assert _fitted_state(det) == {}


def _interrupting(real, after_epochs):
    """``train_loop`` that raises KeyboardInterrupt after ``after_epochs`` epochs in all."""
    seen = {"epochs": 0}

    def loop(step, data, **kwargs):
        def on_epoch_end(epoch, record):
            seen["epochs"] += 1
            if seen["epochs"] >= after_epochs:
                raise KeyboardInterrupt

        return real(step, data, **{**kwargs, "on_epoch_end": on_epoch_end})

    return loop


@pytest.mark.parametrize("cls", [DeepSVDD, DROCC])  # stacked, and fitted one by one
def test_failed_stacked_fit_restores_every_member(cls, monkeypatch, quiet):
    """fit_stacked that raises leaves each estimator as it was, fitted or not, also
    the members that a sequential fallback had already fitted."""
    import skdeepad._stacked as stacked

    X, y = _data()
    fitted = cls(**{**TINY, "random_state": 1}).fit(X, y)
    before, scores = _fitted_state(fitted), fitted.score_samples(X)
    members = [cls(**{**TINY, "random_state": 0}), fitted]
    # DeepSVDD: pretraining (1 epoch) then 1 of 2 stacked epochs; DROCC: the first
    # member's 2 epochs, then the second member's first.
    monkeypatch.setattr(stacked, "train_loop",
                        _interrupting(stacked.train_loop, 2 if cls is DeepSVDD else 3))
    with pytest.raises(KeyboardInterrupt):
        fit_stacked(members, X, y)
    monkeypatch.undo()
    assert _fitted_state(members[0]) == {}
    assert _fitted_state(fitted).keys() == before.keys()
    assert all(_fitted_state(fitted)[k] is v for k, v in before.items())
    np.testing.assert_array_equal(fitted.score_samples(X), scores)


# ------------------------------------------------------- bad and extreme input
def _bad_inputs():
    """``(case, X, y)`` triples: each must raise a documented error or score finitely."""
    X, y = _data()
    nan = X.copy()
    nan[3, 1] = np.nan
    inf = X.copy()
    inf[5, 2] = -np.inf
    huge = X.copy()
    huge[7, 0] = 1e39  # finite in float64, inf in float32
    y01 = (y == -1).astype(int)  # the same anomalies written as ground truth
    return [
        ("nan", nan, y),
        ("inf", inf, y),
        ("1e30", X * 1e30, y),
        ("1e39", huge, y),
        ("constant", np.ones_like(X), y),
        ("single-row", X[:1], y[:1]),
        ("fewer-rows-than-batch", X[:12], y[:12]),
        ("labels-0/1", X, y01),
        ("labels-bool", X, y01.astype(bool)),
    ]


CASES = _bad_inputs()
MESSAGES = {  # the documented message of the cases that must fail for every estimator
    "nan": "Input X contains NaN",
    "inf": "Input X contains infinity",
    "1e39": "do not fit in float32 (the largest magnitude accepted is 3.403e+38",
    "constant": "All features of X are constant",
    "single-row": "minimum of 2 is required",
    "labels-0/1": "to_partial_labels(y)",
    "labels-bool": "(a boolean array)",
}


def _check_outputs(det, X):
    out = _scores(det, X)
    assert np.isfinite(out).all(), "a NaN or infinite score/feature was returned"
    if not isinstance(det, AutoEncoderFeatures):
        assert set(np.unique(det.predict(X))) <= {-1, 1}
        assert np.isfinite(det.decision_function(X)).all()


@pytest.mark.parametrize("case, X, y", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("name", NAMES)
def test_bad_input_at_fit_raises_or_scores_finitely(name, case, X, y, quiet):
    """Each bad or extreme training set gives a documented error or finite outputs,
    and neither X nor y is modified."""
    X_before, y_before = X.copy(), y.copy()
    det = FACTORIES[name]()
    try:
        det.fit(X, y)
    except DOCUMENTED_ERRORS as exc:
        assert str(exc), "an error without a message"
        if case in MESSAGES:
            assert MESSAGES[case] in str(exc)
        assert _fitted_state(det) == {}  # atomic: nothing half-fitted is left
    else:
        assert case not in MESSAGES, f"{case} was accepted"
        _check_outputs(det, X)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    assert X.dtype == X_before.dtype and y.dtype == y_before.dtype


@pytest.fixture(scope="module")
def fitted_models():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: make().fit(X, y) for name, make in FACTORIES.items()}


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_at_predict_raises_or_scores_finitely(name, fitted_models, quiet):
    """A fitted model given NaN, inf, 1e30, 1e39 or a single row: a documented error
    or finite outputs; never a NaN or infinite score; inputs untouched."""
    det = fitted_models[name]
    X, _ = _data(seed=2)
    for case, bad in [("nan", np.where(np.eye(40, 4, dtype=bool), np.nan, X)),
                      ("inf", np.where(np.eye(40, 4, dtype=bool), np.inf, X)),
                      ("1e30", X * 1e30), ("1e39", X * 1e39), ("1e20-row", np.r_[X, [[1e20] * 4]]),
                      ("single-row", X[:1])]:
        before = bad.copy()
        try:
            _check_outputs(det, bad)
        except DOCUMENTED_ERRORS as exc:
            assert str(exc)
            if case == "1e39":
                assert re.search("do not fit in float32", str(exc))
            assert case != "single-row", f"{case}: {exc}"
        np.testing.assert_array_equal(bad, before)


# ---------------------------------------------------------------- threads
def test_fits_in_threads_equal_sequential_fits_and_leave_the_global_rng(quiet):
    """Every estimator, fitted from two threads at once with fixed seeds, gives bit
    for bit the scores of the same fits run one after another, and the caller's
    torch random state is the same before and after."""
    from concurrent.futures import ThreadPoolExecutor

    X, y = _data()
    sequential = {name: _scores(make().fit(X, y), X) for name, make in FACTORIES.items()}
    # Built here: ADRA's tiny backbone seeds torch's global generator, which
    # is the caller's own use of it (not the package's) and must stay out of
    # the threads (see skdeepad.base._seeded).
    detectors = {name: make() for name, make in FACTORIES.items()}
    state = torch.get_rng_state()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(det.fit, X, y) for name, det in detectors.items()}
        fitted = {name: f.result() for name, f in futures.items()}
    threaded = {name: _scores(det, X) for name, det in fitted.items()}
    assert torch.equal(torch.get_rng_state(), state)
    for name in FACTORIES:
        np.testing.assert_array_equal(threaded[name], sequential[name], err_msg=name)
