"""Listing data files, and writing outputs beside their destination then renaming them.

Readers resolve a file, folder, glob or fsspec URL to its parts in natural order with
``_list_files``. Writers (``outofcore.predict``, ``outofcore.data``) write to
``_temp_sibling(dest)``, then ``_publish`` it under the destination name once everything
succeeded, or ``_discard`` it.
"""

import os
import re
import secrets
import time

import fsspec
from fsspec.implementations.local import LocalFileSystem

_SUFFIXES = {"parquet": (".parquet", ".parq", ".pq"), "csv": (".csv",)}


def _list_files(path, kind, storage_options=None):
    """Resolve a file, folder, glob or URL to ``(fs, paths in natural order, is_single_file)``."""
    url = os.fspath(path)
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    if any(c in root for c in "*?["):
        found = fs.glob(root, detail=True)
        files, single = [p for p, info in found.items() if info["type"] == "file"], False
    elif fs.isdir(root):
        files, single = [p for p in fs.find(root) if _is_part(p, kind)], False
    elif fs.isfile(root):
        files, single = [root], True
    else:
        raise FileNotFoundError(
            f"{url!r} does not exist; pass a {kind} file, a folder of {kind} parts, a glob such "
            f"as 'data/*{_SUFFIXES[kind][0]}', or an fsspec URL (storage_options= for credentials)"
        )
    if not files:
        raise FileNotFoundError(
            f"no {kind} files in {url!r} (parts must end in {' or '.join(_SUFFIXES[kind])}; "
            f"names starting with '_' or '.' are skipped)"
        )
    return fs, sorted(files, key=_natural_key), single


def _is_part(path, kind):
    name = path.rsplit("/", 1)[-1]
    return not name.startswith(("_", ".")) and name.endswith(_SUFFIXES[kind])


def _natural_key(path):
    # part-2 before part-10: digit runs compare as numbers.
    return [(0, int(s), "") if s.isdigit() else (1, 0, s) for s in re.split(r"(\d+)", path)]


def _open(fs, path, mode="rb"):
    """A binary file on ``path`` ("rb" or "wb"): pyarrow's native file for local paths, fsspec's
    otherwise.

    Through fsspec's Python file object every read pyarrow makes goes through Python into a fresh
    buffer; its native file reads in C++ with the GIL released (5M x 20 float64 parquet, one row
    group at a time: 0.86 s wall and 1.6 s CPU against 1.11 s and 1.83 s, and 1-5k page faults
    against 100k).
    """
    if isinstance(fs, LocalFileSystem):
        import pyarrow as pa

        return pa.OSFile(path, mode)
    return fs.open(path, mode)


def _display(fs, path):
    return path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path)


def _temp_sibling(fs, dest):
    """A fresh name beside dest: written first, renamed to dest once everything succeeded."""
    dest = dest.rstrip("/")
    if "/" in dest.lstrip("/"):
        fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
    return f"{dest}.tmp-{secrets.token_hex(4)}"


def _refuse_existing(fs, dest, overwrite):
    if not overwrite and fs.exists(dest):
        raise FileExistsError(
            f"{_display(fs, dest)!r} already exists; pass overwrite=True to replace it, or choose "
            f"another destination"
        )


def _publish(fs, tmp, dest, overwrite):
    """Rename the finished tmp to dest; an old dest is moved aside first and removed last."""
    _refuse_existing(fs, dest, overwrite)
    if fs.exists(dest):
        old = f"{dest.rstrip('/')}.old-{secrets.token_hex(4)}"
        fs.mv(dest, old, recursive=True)
        fs.mv(tmp, dest, recursive=True)
        fs.rm(old, recursive=True)
    else:
        fs.mv(tmp, dest, recursive=True)


def _discard(fs, tmp, attempts=20):
    """Remove tmp; retried because a task interrupted by Ctrl-C may still close a file in it."""
    for attempt in range(attempts):
        try:
            if fs.exists(tmp):
                fs.rm(tmp, recursive=True)
            return
        except OSError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)
