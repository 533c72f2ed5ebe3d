"""Decoded blocks kept in memory for later passes over the same data, up to a byte budget.

A pipeline fit passes over its data several times: each fitted preprocessing step's statistics,
then every epoch of ``Incremental``, then perhaps validation. Reading and decoding is paid every
time unless the blocks are kept. A read made with ``cache=`` keeps what it decodes in a
:class:`BlockCache` that belongs to that read's collections (not to the process): X and y of one
``read_parquet`` call share it, and it is freed with them.

Blocks are kept in the process that reads them: the threaded and synchronous schedulers use
them; on a ``distributed`` cluster the workers read as usual (``persist`` is dask's tool there).
"""

import threading


class BlockCache:
    """Values kept under keys, up to ``max_bytes`` in all; kept NumPy arrays are made read-only.

    Read-only, so a consumer that would write into a block must copy it instead of changing
    what later passes see. Safe to use from several threads. Pickled (to a cluster worker) it
    arrives empty with the same budget.

    Attributes
    ----------
    stats : dict
        ``blocks`` and ``bytes`` kept, ``hits`` and ``misses`` of lookups.
    """

    def __init__(self, max_bytes):
        self.max_bytes = int(max_bytes)
        self.stats = {"blocks": 0, "bytes": 0, "hits": 0, "misses": 0}
        self._kept = {}
        self._lock = threading.Lock()

    def __reduce__(self):
        return BlockCache, (self.max_bytes,)

    def __repr__(self):
        return (f"BlockCache({self.stats['bytes']:,} of {self.max_bytes:,} bytes, "
                f"{self.stats['blocks']} blocks)")

    def get_or_compute(self, key, compute):
        """The value kept under ``key``, or ``compute()`` (kept when it fits the budget)."""
        with self._lock:
            value = self._kept.get(key)
            self.stats["hits" if value is not None else "misses"] += 1
        if value is not None:
            return value
        value = compute()
        size = _nbytes(value)
        with self._lock:
            if key not in self._kept and self.stats["bytes"] + size <= self.max_bytes:
                _freeze(value)
                self._kept[key] = value
                self.stats["blocks"] += 1
                self.stats["bytes"] += size
        return value

    def clear(self):
        """Forget every kept block."""
        with self._lock:
            self._kept.clear()
            self.stats.update(blocks=0, bytes=0)


def _nbytes(value):
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return int(getattr(value, "nbytes", 0) or 0)


def _freeze(value):
    if isinstance(value, (tuple, list)):
        for v in value:
            _freeze(v)
    elif hasattr(value, "flags"):
        value.flags.writeable = False


def quarter_of_available_memory():
    """The ``"auto"`` budget: a quarter of the memory available now."""
    import psutil

    return psutil.virtual_memory().available // 4


def make_cache(cache):
    """The :class:`BlockCache` for a reader's ``cache=`` value, or None for ``False``/``None``.

    ``True`` and ``"auto"`` budget a quarter of the available memory; an int is bytes; a string
    such as ``"4GiB"`` is parsed by dask.
    """
    if cache is None or cache is False:
        return None
    if cache is True or (isinstance(cache, str) and cache == "auto"):
        return BlockCache(quarter_of_available_memory())
    if isinstance(cache, str):
        from dask.utils import parse_bytes

        try:
            return BlockCache(parse_bytes(cache))
        except ValueError:
            pass
    elif isinstance(cache, int) and cache >= 0:
        return BlockCache(cache)
    raise ValueError(
        f"cache={cache!r} must be False, True or 'auto' (a quarter of the available memory), a "
        f"number of bytes >= 0, or a size such as '4GiB'"
    )
