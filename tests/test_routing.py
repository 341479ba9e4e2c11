"""Routed arguments, as in skorch: ``optimizer__<arg>`` and ``network__<arg>``."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import skdeepad.base as base
from skdeepad import (
    ADRA,
    AMA,
    DROCC,
    AutoEncoder,
    DeepBinaryClassifier,
    DeepSAD,
    DeepSVDD,
    KDStudentTeacher,
)
from skdeepad.networks import ResNet26

X = np.random.RandomState(0).randn(48, 3)
TINY = dict(epochs=2, batch_size=16, device="cpu", random_state=0)
ESTIMATORS = {
    "AutoEncoder": lambda **kw: AutoEncoder(**TINY, **kw),
    "DeepSVDD": lambda **kw: DeepSVDD(pretrain=False, **TINY, **kw),
    "DeepSAD": lambda **kw: DeepSAD(pretrain=False, **TINY, **kw),
    "DROCC": lambda **kw: DROCC(**TINY, **kw),
    "DeepBinaryClassifier": lambda **kw: DeepBinaryClassifier(**TINY, **kw),
    "AMA": lambda **kw: AMA(n_critic=1, **TINY, **kw),
    "KDStudentTeacher": lambda **kw: KDStudentTeacher(**TINY, **kw),
}


def _y():
    return np.r_[np.zeros(40), -np.ones(8)]  # DeepBinaryClassifier needs anomalies


@pytest.fixture
def recorded_optimizers(monkeypatch):
    """Every optimizer built by BaseDeepEstimator._train, in order."""
    made, make = [], base.make_optimizer

    def recording(*args, **kwargs):
        made.append(make(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(base, "make_optimizer", recording)
    return made


# ------------------------------------------------------------- parameters
def test_routed_arguments_are_parameters():
    """get_params returns them, set_params sets them, clone and pickle keep them."""
    det = DeepSVDD(optimizer="sgd", optimizer__momentum=0.9)
    assert det.get_params()["optimizer__momentum"] == 0.9
    assert "optimizer__momentum=0.9" in repr(det)
    assert det._routed("optimizer") == {"momentum": 0.9}
    det.set_params(optimizer__momentum=0.5, optimizer__nesterov=True, epochs=3)
    assert det._routed("optimizer") == {"momentum": 0.5, "nesterov": True}
    assert det.epochs == 3
    for copy in (clone(det), pickle.loads(pickle.dumps(det))):
        assert copy.get_params()["optimizer__nesterov"] is True
        assert copy._routed("optimizer") == {"momentum": 0.5, "nesterov": True}
    assert DeepSVDD()._routed("optimizer") == {}


def test_grid_search_sets_the_routed_argument_in_each_candidate():
    """GridSearchCV over optimizer__momentum: each candidate trains with its own value."""
    seen = []

    def scorer(est, X_test, y_test=None):
        seen.append(est._routed("optimizer")["momentum"])
        return float(est.score_samples(X_test).mean())

    search = GridSearchCV(AMA(n_critic=1, optimizer="sgd", lr=1e-3, **TINY),
                          {"optimizer__momentum": [0.5, 0.9]}, scoring=scorer, cv=2)
    search.fit(X)
    assert sorted(seen) == [0.5, 0.5, 0.9, 0.9]
    assert [p["optimizer__momentum"] for p in search.cv_results_["params"]] == [0.5, 0.9]
    best = search.best_estimator_.get_params()["optimizer__momentum"]
    assert best == search.best_params_["optimizer__momentum"]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_optimizer_arguments_reach_the_optimizer(name):
    """SGD with momentum 0.9 trains a different model than plain SGD, for every method."""
    def fit(momentum):
        det = ESTIMATORS[name](optimizer="sgd", optimizer__momentum=momentum, lr=0.01)
        return det.fit(X, _y()).score_samples(X)

    assert not np.allclose(fit(0.0), fit(0.9))


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("key, guess", [
    ("optimiser__momentum", "optimizer__momentum"),
    ("optimizer_momentum", "optimizer__momentum"),
    ("optim__momentum", "optimizer__momentum"),
    ("netwrok__width", "network__width"),
    ("n_critc", "n_critic"),
])
def test_misspelled_names_are_refused_with_a_guess(key, guess):
    """By set_params at once and by fit (__init__ validates nothing, as scikit-learn
    asks), with the valid prefixes and a "did you mean"."""
    det = AMA(**{key: 1}, **TINY)
    assert clone(det).get_params()[key] == 1  # kept as given, for fit to refuse
    for fail in (lambda: det.fit(X), lambda: AMA().set_params(**{key: 1})):
        with pytest.raises(ValueError, match="'optimizer__<arg>'") as info:
            fail()
        assert f"Did you mean {guess!r}?" in str(info.value)
        assert "'network__<arg>'" in str(info.value)
    with pytest.raises(TypeError, match="unexpected keyword argument"):  # as Python does
        det.fit(X)
    assert not hasattr(det, "offset_")


def test_unknown_prefix_without_a_guess():
    with pytest.raises(ValueError, match="unexpected keyword argument 'foo__bar'") as info:
        DeepSVDD(foo__bar=1, **TINY).fit(X)
    assert "Did you mean" not in str(info.value)


def test_optimizer_argument_the_optimizer_does_not_take(recorded_optimizers):
    """Refused before training, naming the argument and the optimizer class."""
    with pytest.raises(ValueError, match=r"optimizer__betas: SGD takes no argument 'betas'"):
        AMA(optimizer="sgd", optimizer__betas=(0.5, 0.9), **TINY).fit(X)
    with pytest.raises(ValueError, match="Did you mean 'optimizer__momentum'"):
        AMA(optimizer="sgd", optimizer__momentun=0.9, **TINY).fit(X)
    with pytest.raises(ValueError, match="from its parameter `lr`"):
        AMA(optimizer__lr=0.1, **TINY).fit(X)
    assert recorded_optimizers == []


def test_kd_refuses_network_arguments():
    """KDStudentTeacher's default networks are set by its own parameters."""
    with pytest.raises(ValueError, match="takes no 'network__' arguments") as info:
        KDStudentTeacher().set_params(network__widths=(8, 8, 8, 8))
    assert "Did you mean 'resnet_widths'?" in str(info.value)
    with pytest.raises(ValueError, match="takes no 'network__' arguments"):
        KDStudentTeacher(network__widths=(8, 8, 8, 8), **TINY).fit(X)
    KDStudentTeacher(optimizer__betas=(0.5, 0.9), **TINY).fit(X)  # the optimizer's are


def test_network_arguments_reach_the_default_autoencoder():
    """Deep SVDD/SAD, AutoEncoder and the supervised baseline route network__<arg> to
    make_default_autoencoder; arguments the estimator sets itself are refused."""
    det = DeepSAD(network__negative_slope=0.01, **TINY).fit(X)
    slopes = {m.negative_slope for m in det.network_.modules()
              if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.01}
    with pytest.raises(ValueError, match="sets the argument 'init'"):
        AutoEncoder(network__init="glorot", **TINY).fit(X)
    with pytest.raises(ValueError, match="network__negative_slop"):
        DeepSVDD(network__negative_slop=0.01, **TINY).fit(X)


def test_drocc_refuses_network_arguments():
    with pytest.raises(ValueError, match="takes no 'network__' arguments"):
        DROCC().set_params(network__width=3)


# ------------------------------------------------------------------- ADRA
def _images():
    rng = np.random.RandomState(0)
    X_img = np.r_[0.1 * rng.rand(16, 1, 8, 8), 0.1 * rng.rand(16, 1, 8, 8) + 0.5]
    return X_img, np.r_[np.zeros(16), -np.ones(16)]


def _backbone():
    torch.manual_seed(0)
    return ResNet26(in_channels=1, widths=(4, 4, 8))


def test_adra_trains_with_sgd_momentum_0_9_by_default(recorded_optimizers):
    """The paper's SGD with momentum 0.9 (Sec. 4.1); optimizer__momentum overrides it,
    and another optimizer does not get it."""
    X_img, y = _images()
    assert ADRA().get_params()["optimizer"] == "sgd"
    for params, expected in [({}, 0.9), ({"optimizer__momentum": 0.0}, 0.0)]:
        ADRA(backbone=_backbone(), epochs=1, lr=0.01, device="cpu", random_state=0,
             **params).fit(X_img, y)
        opt = recorded_optimizers[-1]
        assert isinstance(opt, torch.optim.SGD)
        assert {g["momentum"] for g in opt.param_groups} == {expected}
    ADRA(backbone=_backbone(), optimizer="adam", epochs=1, lr=0.01, device="cpu",
         random_state=0).fit(X_img, y)
    assert isinstance(recorded_optimizers[-1], torch.optim.Adam)


def test_adra_routes_network_arguments_to_the_default_resnet26():
    X_img, y = _images()
    det = ADRA(mode="scratch", network__widths=(4, 4, 8), epochs=1, lr=0.01,
               device="cpu", random_state=0).fit(X_img, y)
    widths = [m.out_channels for m in det.network_.body.modules()
              if isinstance(m, torch.nn.Conv2d)]
    assert max(widths) == 8
    with pytest.raises(ValueError, match="backbone fixes the architecture"):
        ADRA(backbone=_backbone(), network__widths=(4, 4, 8), epochs=1,
             device="cpu").fit(X_img, y)
