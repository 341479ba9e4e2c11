"""The ``callbacks`` parameter: user hooks into every training loop of ``fit``."""

import numpy as np
import pytest
from sklearn.base import clone

from skdeepad import AMA, DROCC, DeepSAD, DeepSVDD, fit_stacked
from skdeepad.callbacks import Callback
from skdeepad.ensemble import StackedFallbackWarning

FAST = dict(hidden_layer_sizes=(8, 4), epochs=4, batch_size=32, device="cpu", random_state=0)


@pytest.fixture
def X():
    return np.random.RandomState(0).randn(96, 5)


class Recorder(Callback):
    """Keeps every hook call; stops each loop after ``stop_after`` epochs."""

    def __init__(self, stop_after=None):
        self.stop_after, self.events = stop_after, []

    def on_train_begin(self, loop):
        self.events.append(("begin", loop.desc, loop.epochs))

    def on_batch_end(self, loop, loss):
        self.events.append(("batch", loop.desc))

    def on_epoch_end(self, loop, record):
        self.events.append(("epoch", loop.desc, record["epoch"], record["train_loss"]))
        loop.stop = self.stop_after is not None and record["epoch"] >= self.stop_after

    def on_train_end(self, loop):
        self.events.append(("end", loop.desc, len(loop.history)))

    def epochs(self, desc):
        return [e[2] for e in self.events if e[0] == "epoch" and e[1] == desc]


def test_callbacks_see_both_loops_of_a_pretraining_fit_in_order(X):
    rec = Recorder()
    det = DeepSAD(**FAST, pretrain_epochs=3, callbacks=[rec]).fit(X)
    descs = [e[1] for e in rec.events if e[0] == "begin"]
    assert descs == ["DeepSAD pretraining", "DeepSAD"]
    assert rec.epochs("DeepSAD pretraining") == [1, 2, 3]
    assert rec.epochs("DeepSAD") == [1, 2, 3, 4]
    # 96 rows in batches of 32: three steps per epoch, each followed by on_batch_end
    assert sum(e == ("batch", "DeepSAD") for e in rec.events) == 12
    # the records they see are the ones the estimator keeps
    assert [e[3] for e in rec.events if e[:2] == ("epoch", "DeepSAD")] == [
        r["train_loss"] for r in det.history_]
    assert rec.events[-1] == ("end", "DeepSAD", 4)


@pytest.mark.parametrize("make", [
    lambda cb: DeepSVDD(**FAST, pretrain=False, callbacks=[cb]),
    lambda cb: DROCC(hidden_layer_sizes=(8,), epochs=4, batch_size=32, ascent_num_steps=2,
                     device="cpu", random_state=0, callbacks=[cb]),
    lambda cb: AMA(epochs=4, n_critic=1, batch_size=32, device="cpu", random_state=0,
                   callbacks=[cb]),
], ids=["DeepSVDD", "DROCC", "AMA"])
def test_a_callback_can_stop_training_and_the_fit_stays_usable(X, make):
    """Stacked-engine methods and methods with their own step (AMA) alike."""
    rec = Recorder(stop_after=2)
    det = make(rec).fit(X)
    assert len(det.history_) == 2
    assert rec.events[-1][0] == "end" and rec.events[-1][2] == 2
    assert np.isfinite(det.score_samples(X)).all()


def test_stopping_early_changes_the_model(X):
    full = DeepSVDD(**FAST, pretrain=False).fit(X)
    stopped = DeepSVDD(**FAST, pretrain=False, callbacks=[Recorder(stop_after=1)]).fit(X)
    assert not np.allclose(full.score_samples(X), stopped.score_samples(X))


def test_anything_but_a_callback_is_refused_with_what_is_accepted(X):
    det = DeepSVDD(**FAST, callbacks=[lambda loop: None])
    with pytest.raises(TypeError, match=r"callbacks\[0\] is a function.*Callback"):
        det.fit(X)
    with pytest.raises(ValueError, match="callbacks"):
        DeepSVDD(**FAST, callbacks="progress").fit(X)


def test_a_failing_callback_leaves_the_estimator_as_it_was(X):
    class Fails(Callback):
        def on_epoch_end(self, loop, record):
            if record["epoch"] == 2:
                raise RuntimeError("from the callback")

    det = DeepSVDD(**FAST, pretrain=False).fit(X)
    before = det.score_samples(X)
    det.set_params(callbacks=[Fails()])
    with pytest.raises(RuntimeError, match="from the callback"):
        det.fit(X)
    np.testing.assert_array_equal(det.score_samples(X), before)


def test_clone_copies_the_callbacks_and_fit_uses_them_as_given(X):
    rec = Recorder()
    det = DeepSVDD(**FAST, pretrain=False, callbacks=[rec])
    twin = clone(det)
    assert twin.callbacks[0] is not rec and isinstance(twin.callbacks[0], Recorder)
    det.fit(X)
    assert rec.epochs("DeepSVDD") == [1, 2, 3, 4]
    assert twin.callbacks[0].events == []


def test_fits_with_callbacks_are_not_stacked_but_each_member_sees_its_loop(X):
    recs = [Recorder(), Recorder()]
    members = [DeepSVDD(**{**FAST, "random_state": s}, pretrain=False, callbacks=[r])
               for s, r in enumerate(recs)]
    with pytest.warns(StackedFallbackWarning, match="callbacks"):
        fit_stacked(members, X)
    for rec in recs:
        assert rec.epochs("DeepSVDD") == [1, 2, 3, 4]


def test_a_lone_fit_shows_callbacks_the_fitted_network_itself(X):
    """``loop.modules`` of a lone fit holds the network that ends up in ``network_``."""
    seen = []

    class Keep(Callback):
        def on_train_begin(self, loop):
            seen.extend(loop.modules)

    det = DROCC(hidden_layer_sizes=(8,), epochs=2, batch_size=32, ascent_num_steps=2,
                device="cpu", random_state=0, callbacks=[Keep()]).fit(X)
    assert seen == [det.network_]
