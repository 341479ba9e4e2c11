"""Hooks into the training loop of every deep estimator (``callbacks=``).

A callback subclasses :class:`Callback` and overrides the hooks it needs;
each hook receives the running :class:`Loop` (its ``modules``, ``epochs``,
``desc``, the ``history`` so far, and ``stop``).  The protocol is skorch's,
smaller: four hooks, no names, no ``initialize``.  The package's own progress
bar (``verbose``) and early stopping (``n_iter_no_change``) are callbacks of
this kind, run before the user's.

Example: stop a fit once the training loss is below a level, and keep the
epochs' losses::

    from skdeepad import DeepSVDD
    from skdeepad.callbacks import Callback

    class StopBelow(Callback):
        def __init__(self, level):
            self.level, self.seen = level, []

        def on_epoch_end(self, loop, record):
            self.seen.append((loop.desc, record["train_loss"]))
            loop.stop = record["train_loss"] < self.level

    det = DeepSVDD(callbacks=[StopBelow(0.01)]).fit(X)

A method that pretrains (Deep SVDD, Deep SAD) runs two loops, pretraining
then training; ``loop.desc`` tells them apart, and ``loop.modules`` holds
the network being trained (the one that becomes ``network_``).  The
callback objects are used as given, not copied: they keep their state after
``fit``, and a ``clone`` of the estimator gets deep copies.  A fit with
callbacks is not stacked: :func:`~skdeepad.fit_stacked`,
:class:`~skdeepad.StackedEnsemble` and the stacked searches fit such
estimators one after another, with a ``StackedFallbackWarning``.  Anything
but a :class:`Callback` is refused at ``fit`` with a :class:`TypeError`.
"""

from ._train import Callback, Loop

__all__ = ["Callback", "Loop"]
