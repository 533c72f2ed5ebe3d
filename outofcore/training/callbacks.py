"""What a fit reports as it runs: callbacks, and the two outofcore brings (a progress bar and
checkpoints, in :mod:`outofcore.training.checkpoint`).

A callback is any object with some of the methods of :class:`Callback`, or a plain function,
which is called with the per-block ``info`` dict. Callbacks are parameters of the estimator, so
they must survive ``sklearn.base.clone`` (a deep copy): keep threads, locks and files out of
``__init__`` and create them when the fit begins.
"""

import time


class Callback:
    """Hooks ``Incremental`` calls during a fit; each gets the model and a dict of facts.

    ``on_fit_begin``: ``total`` rows the fit will pass over (all epochs), ``epochs``.
    ``on_block_end``: ``rows`` (seen so far in this fit), ``total``, ``seconds`` (since the fit
    began), ``epoch``, ``block``, ``block_rows``, ``wait_seconds`` (the learner waited for the
    block) and ``learn_seconds`` (in ``partial_fit``).
    ``on_epoch_end``: the epoch's entry of ``history_``.
    ``on_fit_end``: ``rows``, ``seconds``, ``wait_seconds`` and ``learn_seconds`` in all.
    """

    def on_fit_begin(self, model, info):
        """The fit is about to read its first block."""

    def on_block_end(self, model, info):
        """``partial_fit`` returned on a block."""

    def on_epoch_end(self, model, info):
        """An epoch (and its validation score) is done."""

    def on_fit_end(self, model, info):
        """The fit is done, or failed (``info["error"]``)."""


class ProgressBar(Callback):
    """A tqdm bar of rows on stderr: rows/s and time left."""

    def __init__(self, desc="fit"):
        self.desc = desc
        self._bar = None

    def on_fit_begin(self, model, info):
        import sys

        from tqdm.auto import tqdm

        self._bar = tqdm(total=info["total"], desc=self.desc, unit="rows", unit_scale=True,
                         dynamic_ncols=True, file=sys.stderr)

    def on_block_end(self, model, info):
        self._bar.update(info["block_rows"])

    def on_fit_end(self, model, info):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _Function(Callback):
    """A plain function given as a callback: called with every block's ``info``."""

    def __init__(self, function):
        self.function = function

    def on_block_end(self, model, info):
        self.function(info)


def as_callbacks(callback):
    """``callback=`` (None, a function, a Callback, or a list of them) as a list of Callbacks."""
    if callback is None:
        return []
    items = callback if isinstance(callback, (list, tuple)) else [callback]
    out = []
    for item in items:
        hooks = [m for m in ("on_fit_begin", "on_block_end", "on_epoch_end", "on_fit_end")
                 if callable(getattr(item, m, None))]
        if hooks:
            out.append(item)
        elif callable(item):
            out.append(_Function(item))
        else:
            raise TypeError(f"callback={item!r} is neither a function nor an object with "
                            f"on_block_end/on_epoch_end/... methods")
    return out


class Calls:
    """Calls every callback's hook that it has, in order; tracks the fit's clock and totals."""

    def __init__(self, callbacks, total):
        self.callbacks = callbacks
        self.total = total
        self.start = time.perf_counter()
        self.rows = 0
        self.wait = 0.0
        self.learn = 0.0

    def __call__(self, hook, model, info):
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(model, info)

    def block(self, model, info):
        self.rows += info["block_rows"]
        self.wait += info["wait_seconds"]
        self.learn += info["learn_seconds"]
        self("on_block_end", model, {**info, "rows": self.rows, "total": self.total,
                                     "seconds": time.perf_counter() - self.start})

    def totals(self):
        return {"rows": self.rows, "seconds": time.perf_counter() - self.start,
                "wait_seconds": self.wait, "learn_seconds": self.learn}
