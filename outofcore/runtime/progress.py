"""Progress of long steps (fit, predict, data generation): a tqdm bar on terminals, silence in scripts."""

import sys


def wants_bar(verbose):
    """True for ``verbose=True``; for ``"auto"``, only when stderr is a terminal."""
    if verbose == "auto":
        return sys.stderr.isatty()
    return bool(verbose)


class RowProgress:
    """Counts rows through a long step; shows rows/s and ETA with tqdm when asked.

    Parameters
    ----------
    total : int or None
        Rows expected (None when unknown).
    desc : str
        Label shown before the bar.
    verbose : bool or "auto", default="auto"
        Show a bar: always, never, or only on a terminal.
    callback : callable, optional
        Called with a dict (``rows``, ``total``, ``seconds`` and the ``info`` given to ``update``)
        after every update, bar or not.
    """

    def __init__(self, total, desc, *, verbose="auto", callback=None):
        import time

        self._clock = time.perf_counter
        self._start = self._clock()
        self.total = total
        self.rows = 0
        self.callback = callback
        self._bar = None
        if wants_bar(verbose):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="rows", unit_scale=True, dynamic_ncols=True,
                             file=sys.stderr)

    def update(self, rows, **info):
        self.rows += rows
        if self._bar is not None:
            self._bar.update(rows)
        if self.callback is not None:
            self.callback({"rows": self.rows, "total": self.total,
                           "seconds": self._clock() - self._start, **info})

    def close(self):
        if self._bar is not None:
            self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
