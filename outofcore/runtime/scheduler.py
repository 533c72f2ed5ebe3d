"""The dask scheduler a computation runs on: the threaded one locally, or the current Client."""

import sys


def compute(*collections, **kwargs):
    """``dask.compute``, naming the threaded scheduler when no distributed Client can exist.

    Left to choose, dask imports distributed on every compute to look for a default Client
    (a noticeable part of a short fit in a fresh process). Without ``distributed`` imported
    nobody created a Client, so unless a scheduler is configured (``dask.config`` or
    ``scheduler=``) the threaded one is passed as a function, which dask takes as it is.
    """
    import dask

    if ("scheduler" not in kwargs and "distributed" not in sys.modules
            and dask.config.get("scheduler", None) is None):
        import dask.threaded

        kwargs["scheduler"] = dask.threaded.get
    return dask.compute(*collections, **kwargs)


def active_client():
    """The distributed Client that ``dask.compute`` would use here, or None.

    A Client becomes dask's scheduler when it is created (or inside ``with client.as_current()``);
    ``dask.config.set(scheduler="threads")`` and friends take precedence, as they do for dask.
    """
    if "distributed" not in sys.modules:
        # Nobody started a Client without importing distributed; skip its import cost.
        return None
    import dask.base
    from distributed import Client

    scheduler = dask.base.get_scheduler()
    owner = getattr(scheduler, "__self__", None)
    return owner if isinstance(owner, Client) else None
