"""Files: finding a data set's parts, opening them, and writing outputs that appear whole or not at all.

Readers resolve a file, folder, glob, list of those, or fsspec URL to its parts in natural order
with :func:`list_files`. Every writer (predictions, generated data sets, models, checkpoints,
reports, compiled models) writes through :func:`publishing`: the output is written under a fresh
name beside its destination and renamed into place only when it is complete, so an interrupted
write never leaves a half-written file, and an existing output is replaced only when asked.
"""

import json
import os
import re
import secrets
import time
from contextlib import contextmanager

import fsspec
from fsspec.implementations.local import LocalFileSystem

SUFFIXES = {"parquet": (".parquet", ".parq", ".pq"), "csv": (".csv",)}


def list_files(path, kind, storage_options=None):
    """Resolve ``path`` to ``(fs, parts in natural order, is_single_file)``.

    ``path`` is a file, a folder (searched recursively; names starting with ``_`` or ``.`` are
    skipped), a glob, an fsspec URL, or a list of those (all on one filesystem).
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths or not all(isinstance(p, (str, os.PathLike)) for p in paths):
        raise TypeError(
            f"path must be a file, folder, glob or URL, or a list of them; got {path!r}"
        )
    fs, found, single = None, [], len(paths) == 1
    for one in paths:
        url = os.fspath(one)
        one_fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        if fs is not None and type(one_fs) is not type(fs):
            raise ValueError(f"the paths {paths} are on different filesystems; read them apart")
        fs = one_fs
        if any(c in root for c in "*?["):
            matches = fs.glob(root, detail=True)
            files = [p for p, info in matches.items() if info["type"] == "file"]
            single = False
        elif fs.isdir(root):
            files = sorted((p for p in fs.find(root) if _is_part(p, kind)), key=natural_key)
            single = False
        elif fs.isfile(root):
            files = [root]
        else:
            raise FileNotFoundError(
                f"{url!r} does not exist; pass a {kind} file, a folder of {kind} parts, a glob "
                f"such as 'data/*{SUFFIXES[kind][0]}', or an fsspec URL (storage_options= for "
                f"credentials)"
            )
        if not files:
            raise FileNotFoundError(
                f"no {kind} files in {url!r} (parts must end in {' or '.join(SUFFIXES[kind])}; "
                f"names starting with '_' or '.' are skipped)"
            )
        found += sorted(files, key=natural_key) if len(paths) == 1 else files
    if len(set(found)) != len(found):
        twice = sorted({p for p in found if found.count(p) > 1})
        raise ValueError(f"the paths name {twice} more than once; list each part once")
    return fs, found, single


def _is_part(path, kind):
    name = path.rsplit("/", 1)[-1]
    return not name.startswith(("_", ".")) and name.endswith(SUFFIXES[kind])


def natural_key(path):
    """Sort key that puts ``part-2`` before ``part-10`` (digit runs compare as numbers)."""
    return [(0, int(s), "") if s.isdigit() else (1, 0, s) for s in re.split(r"(\d+)", path)]


def open_file(fs, path, mode="rb", *, mapped=False):
    """A binary file on ``path``: pyarrow's native file for local paths, fsspec's otherwise.

    Through fsspec's Python file object every read pyarrow makes goes through Python into a
    fresh buffer; pyarrow's native file reads in C++ with the GIL released. ``mapped`` maps a
    local file read in pieces (parquet column chunks) into memory instead: its bytes are
    decoded from the page cache where they lie, not first copied into fresh buffers, whose every
    page the kernel would zero first.
    """
    if isinstance(fs, LocalFileSystem):
        import pyarrow as pa

        return pa.memory_map(path, mode) if mapped and mode == "rb" else pa.OSFile(path, mode)
    return fs.open(path, mode)


def display(fs, path):
    """How a path is named in messages: as given for local files, with its protocol otherwise."""
    return path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path)


def refuse_existing(dest, *, overwrite=False, fs=None, hint="pass overwrite=True to replace it"):
    """Raise FileExistsError when ``dest`` exists and ``overwrite`` is false.

    ``hint`` says how to replace it in the words of the interface in use (a parameter in
    Python, a flag on the command line).
    """
    fs = fs or fsspec.core.url_to_fs(os.fspath(dest))[0]
    if not overwrite and fs.exists(os.fspath(dest)):
        raise FileExistsError(f"{os.fspath(dest)} already exists; {hint}, or choose another "
                              f"destination")


@contextmanager
def publishing(dest, *, overwrite=False, fs=None, hint="pass overwrite=True to replace it"):
    """Yield a fresh path beside ``dest`` to write a file or folder at; rename it to ``dest`` when
    the ``with`` block ends normally, remove it otherwise.

    An existing ``dest`` is refused before anything is written unless ``overwrite``; when
    replaced, the old output is moved aside first and removed last. Local outputs get the
    permissions the user's umask gives.

    Examples
    --------
    >>> with publishing("out/model.json", overwrite=True) as tmp:   # doctest: +SKIP
    ...     with open(tmp, "w") as f:
    ...         f.write("{}")
    """
    if fs is None:
        fs, dest = fsspec.core.url_to_fs(os.fspath(dest))
    dest = os.fspath(dest).rstrip("/")
    refuse_existing(dest, overwrite=overwrite, fs=fs, hint=hint)
    parent = dest.rsplit("/", 1)[0] if "/" in dest.lstrip("/") else None
    if parent:
        fs.makedirs(parent, exist_ok=True)
    name = dest.rsplit("/", 1)[-1]
    tmp = f"{parent}/.{name}.tmp-{secrets.token_hex(4)}" if parent else \
        f".{name}.tmp-{secrets.token_hex(4)}"
    try:
        yield tmp
        refuse_existing(dest, overwrite=overwrite, fs=fs, hint=hint)
        if fs.exists(dest):
            old = f"{tmp}.old"
            fs.mv(dest, old, recursive=True)
            fs.mv(tmp, dest, recursive=True)
            fs.rm(old, recursive=True)
        else:
            fs.mv(tmp, dest, recursive=True)
    except BaseException:
        _discard(fs, tmp)
        raise


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


def write_json(path, doc, *, overwrite=True):
    """Write ``doc`` as indented JSON through :func:`publishing`; NumPy values become JSON ones."""
    with publishing(path, overwrite=overwrite) as tmp, open(tmp, "w") as f:
        json.dump(doc, f, indent=1, default=jsonable)
    return os.fspath(path)


def jsonable(value):
    """``json.dump``'s ``default``: NumPy scalars and arrays become numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
