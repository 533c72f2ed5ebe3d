"""read_csv: CSV files -> aligned ``(X, y)`` dask arrays with known chunks.

CSV has no footer: planning counts lines (a byte scan, no parsing) and cuts each file into byte
ranges of ``block_rows`` lines; each block is one task that parses its byte range with pyarrow.
Column types come from a sample at the start of each file. ``read_csv`` is also importable from
``outofcore.io`` and ``outofcore``.
"""

import io
import re

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from outofcore._files import _display, _list_files, _open
from outofcore._tables import (
    DEFAULT_BLOCK_ROWS,
    _assemble,
    _check_args,
    _check_parts,
    _Spec,
    _split,
    _token,
)

# CSV column types are inferred from this much of each file; later values must convert to them.
_CSV_SAMPLE_BYTES = 1 << 20
_SCAN_BYTES = 1 << 24


def _scan_csv(fs, path, display, block_rows, delimiter):
    """(sampled arrow schema, [(start byte, stop byte, rows)]) of one CSV file."""
    with fs.open(path, "rb") as f:
        header = f.readline()
        if not header.strip():
            raise ValueError(f"{display} is empty; every CSV part needs a header line")
        body = f.read(_CSV_SAMPLE_BYTES)
        if len(body) == _CSV_SAMPLE_BYTES:
            body = body[:body.rfind(b"\n") + 1]
        # The sample only settles the types: malformed lines are reported, with their number,
        # when their block is read.
        options = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=lambda row: "skip")
        try:
            schema = pacsv.read_csv(io.BytesIO(header.rstrip(b"\r\n") + b"\n" + body),
                                    parse_options=options).schema
        except pa.ArrowInvalid as e:
            raise ValueError(f"cannot parse the first lines of {display}: {e}") from e
        f.seek(len(header))
        blocks, start, pos, pending, last = [], len(header), len(header), 0, b"\n"
        # Counting newlines needs no parsing; quoted values spanning lines are caught when read.
        while buf := f.read(_SCAN_BYTES):
            newlines = np.flatnonzero(np.frombuffer(buf, np.uint8) == ord("\n"))
            for end in newlines[block_rows - pending - 1::block_rows]:
                blocks.append((start, pos + int(end) + 1, block_rows))
                start = pos + int(end) + 1
            pending = (pending + len(newlines)) % block_rows
            pos, last = pos + len(buf), buf[-1:]
    pending += last != b"\n" and pos > start
    if pending:
        blocks.append((start, pos, pending))
    return schema, blocks


def _parse_csv(data, spec, threads, on_invalid=None):
    names, types, delimiter = spec.csv
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=threads),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False,
                                         invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(include_columns=list(types), column_types=types))


def _read_csv_block(spec, path, display, start, stop, n_rows, first_line):
    with _open(spec.fs, path) as f:
        f.seek(start)
        data = f.read(stop - start)
    try:
        # Threads parse 1.7x faster but lose line numbers: a failing block is parsed again alone.
        table = _parse_csv(data, spec, threads=True)
    except pa.ArrowInvalid:
        invalid = []
        try:
            _parse_csv(data, spec, False, lambda row: invalid.append(row) or "error")
        except pa.ArrowInvalid as e:
            if invalid:
                row, line = invalid[0], first_line + (invalid[0].number or 1) - 1
                what = f"{row.actual_columns} fields where the header has {row.expected_columns}"
            else:
                found = re.search(r"Row #(\d+)", str(e))
                line = first_line + int(found.group(1)) - 1 if found else first_line
                what = re.sub(r"Row #\d+: ", "", str(e))
            raise ValueError(f"cannot parse line {line} of {display}: {what}. Fix or remove it") \
                from e
        raise
    if table.num_rows != n_rows:
        raise ValueError(
            f"lines {first_line}-{first_line + n_rows - 1} of {display} parsed into "
            f"{table.num_rows} rows, not {n_rows}: quoted values spanning lines are not "
            f"supported; convert the file to parquet"
        )
    return _split(table, spec, lambda r: f"line {first_line + r} of {display}")


def read_csv(path, target=None, columns=None, dtype="float32", *, exclude=(),
             block_rows=DEFAULT_BLOCK_ROWS, check_finite=True, delimiter=",",
             storage_options=None):
    """Read CSV files, each with a header line, into aligned dask arrays ``(X, y)``.

    Takes the parameters of :func:`read_parquet`, plus ``delimiter``. Planning reads every byte
    once to count lines (no parsing) and cuts each file into blocks of ``block_rows`` lines
    (2**20 by default: the lines are cut before the feature columns are known), so the chunks
    are known. Column types are inferred from each file's first MiB; a later value that
    does not convert raises an error naming the file and line. Rows with the wrong number of
    fields and quoted values spanning lines are errors; a blank line is a row of missing values.
    Compressed CSV is not supported (convert it to parquet).

    Examples
    --------
    >>> X, y = read_csv("data/train.csv", target="target", exclude=["id"])  # doctest: +SKIP
    """
    dtype = _check_args(dtype, block_rows)
    fs, files, _ = _list_files(path, "csv", storage_options)
    displays = [_display(fs, p) for p in files]
    scans = [_scan_csv(fs, p, d, block_rows, delimiter)
             for p, d in zip(files, displays, strict=True)]
    header = scans[0][0].names
    for d, (schema, _) in zip(displays, scans, strict=True):
        if schema.names != header:
            raise ValueError(
                f"parts have different schemas: {d} has header {schema.names} but {displays[0]} "
                f"has {header}; every part needs the same header"
            )
    # A header-only part says nothing about types: types are checked on the parts with rows.
    typed = [(d, schema) for d, (schema, blocks) in zip(displays, scans, strict=True) if blocks]
    typed = typed or [(displays[0], scans[0][0])]
    features, y_dtype = _check_parts(typed, target, columns, exclude)
    types = {name: pa.from_numpy_dtype(dtype) for name in features}
    if target is not None:
        sampled = typed[0][1].field(target).type
        types[target] = pa.float64() if pa.types.is_null(sampled) else sampled
    blocks = []
    for p, d, (_, file_blocks) in zip(files, displays, scans, strict=True):
        line = 2
        for start, stop, n in file_blocks:
            blocks.append(((p, d, start, stop, n, line), n))
            line += n
    spec = _Spec(fs, tuple(features), target, dtype, y_dtype, check_finite,
                 csv=(header, types, delimiter))
    token = _token("csv", fs, files, features, target, dtype.str, check_finite, block_rows,
                   delimiter)
    return _assemble(_read_csv_block, spec, blocks, token)
