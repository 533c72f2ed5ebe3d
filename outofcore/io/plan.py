"""Block plans: which rows of which file each block holds, worked out from footers or a line count,
and the function that reads one block.

A :class:`Source` is made once per read and shared by everything that passes over the data: the
lazy collections of :mod:`outofcore.io.table`, the fit, and ``predict_to_parquet``. It holds only
plain values (paths, parquet footers, byte ranges), so it travels to cluster workers as it is.

Parquet blocks are planned from the footers alone: consecutive row groups of one file merge
while a block stays within ``block_rows`` rows; a row group above the split limit is cut into
even slices, each decoding its row group up to the end of its slice. CSV has no footer: its
lines are counted (a byte scan, no parsing), each file is cut into byte ranges of
``block_rows`` lines, and column types come from a sample at the start of each file.
"""

import io
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from outofcore.io.convert import kind_of
from outofcore.io.files import display, list_files, open_file

# Most rows in a block: read_csv's default, and the row-group size above which parquet splits one.
DEFAULT_BLOCK_ROWS = 2**20
# Bytes of numbers a block holds when block_rows is not given (419k rows of 20 float32 columns).
BLOCK_BYTES = 1 << 25
# CSV column types are inferred from this much of each file; later values must convert to them.
_CSV_SAMPLE_BYTES = 1 << 20
_SCAN_BYTES = 1 << 24


@dataclass(frozen=True)
class Block:
    """One block: ``rows`` rows of file ``file`` starting at its row (or line) ``first``.

    Parquet: ``span = (row groups, lo, hi)``, ``lo:hi`` slicing a split row group (None: whole).
    CSV: ``span = (start byte, stop byte)``.
    """

    file: int
    first: int
    rows: int
    span: tuple


@dataclass(frozen=True, eq=False)
class Source:
    """The block plan of one read of parquet or CSV files.

    Attributes
    ----------
    kind : {"parquet", "csv"}
    fs : fsspec filesystem
    files, displays : tuple of str
        The parts, and how messages name them.
    schema : pyarrow.Schema
        Every column of the data set with its type (CSV: the types it is parsed with).
    blocks : tuple of Block
    token : str
        Changes when a part is rewritten, so later reads get new dask keys.
    part_schemas : tuple of pyarrow.Schema
        Each part's own schema (checked against ``schema`` by :func:`check_parts`).
    footers : tuple
        Parquet: each part's footer, parsed once here and reused by every read task.
    csv_delimiter : str
    """

    kind: str
    fs: object
    files: tuple
    displays: tuple
    schema: pa.Schema
    blocks: tuple
    token: str
    part_schemas: tuple = ()
    footers: tuple = ()
    csv_delimiter: str = ","

    @property
    def rows(self):
        """Rows of each block."""
        return tuple(b.rows for b in self.blocks)

    def where(self, index, row):
        """Where row ``row`` of block ``index`` is, for messages: ``"row 12 of f.parquet
        (row group 0)"`` or ``"line 14 of f.csv"``."""
        b = self.blocks[index]
        return self.where_in_file(b.file, b.first + row)

    def where_in_file(self, file, row):
        """Where row ``row`` of part ``file`` is (a line number for CSV), for messages."""
        name = self.displays[file]
        if self.kind == "csv":
            return f"line {row} of {name}"
        meta = self.footers[file]
        sizes = np.cumsum([meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
        group = int(np.searchsorted(sizes, row, side="right"))
        return f"row {row} of {name} (row group {group})"

    def file_rows(self, file):
        """Rows of part ``file``."""
        return sum(b.rows for b in self.blocks if b.file == file)

    def read(self, index, columns, *, threads=True):
        """Block ``index`` as a ``pyarrow.Table`` of ``columns`` (in that order)."""
        b = self.blocks[index]
        if self.kind == "csv":
            return _read_csv(self, b, columns, threads)
        return _read_parquet(self, b, columns, threads)

    def stream(self, file, columns, max_rows, *, threads=False):
        """Yield ``(piece, first row, table)`` for file ``file`` in order, tables of at most
        ``max_rows`` rows; ``piece`` is the parquet row group (or CSV block) a table belongs to.

        Each row group is decoded once, however many tables it is cut into (reading the blocks
        of a split row group would decode it again for each).
        """
        if self.kind == "csv":
            for index, b in enumerate(self.blocks):
                if b.file == file:
                    table = self.read(index, columns, threads=threads)
                    for start in range(0, table.num_rows, max_rows):
                        yield index, b.first + start, table.slice(start, max_rows)
            return
        name, meta = self.displays[file], self.footers[file]
        with open_file(self.fs, self.files[file], mapped=True) as f:
            pf, first = pq.ParquetFile(f, metadata=meta), 0
            for group in range(meta.num_row_groups):
                reader = pf.iter_batches(max_rows, row_groups=[group], columns=list(columns),
                                         use_threads=threads)
                while True:
                    try:
                        batch = next(reader)
                    except StopIteration:
                        break
                    except (pa.ArrowException, OSError) as e:
                        raise ValueError(
                            f"cannot read row group {group} of {name}: {e}. The file is "
                            f"truncated or corrupt; rewrite it or move it out of the data set"
                        ) from e
                    yield group, first, pa.Table.from_batches([batch])
                    first += batch.num_rows


# ------------------------------------------------------------------------------------- parquet
def _footer(fs, path, name):
    try:
        with open_file(fs, path) as f:
            return pq.read_metadata(f)
    except (pa.ArrowException, OSError) as e:
        raise ValueError(
            f"cannot read the parquet footer of {name}: {e}. The file is truncated or not "
            f"parquet; rewrite it or move it out of the data set"
        ) from e


def plan_row_groups(rg_rows, block_rows, split_rows=None):
    """Blocks of one file as ``(row groups, lo, hi, first row)``; lo:hi slices a split row group.

    Row groups merge while a block stays within ``block_rows``; one above ``split_rows`` (default
    ``block_rows``) is split evenly, one in between is a block of its own.
    """
    split_rows = block_rows if split_rows is None else split_rows
    blocks, run, run_rows, offset = [], [], 0, 0
    for i, n in enumerate(rg_rows):
        if run and run_rows + n > block_rows:
            blocks.append((tuple(run), None, None, offset - run_rows))
            run, run_rows = [], 0
        if n > split_rows:
            size = -(-n // -(-n // split_rows))
            blocks += [((i,), lo, min(lo + size, n), offset + lo) for lo in range(0, n, size)]
        elif n > block_rows:
            blocks.append(((i,), None, None, offset))
        elif n:
            run.append(i)
            run_rows += n
        offset += n
    if run:
        blocks.append((tuple(run), None, None, offset - run_rows))
    return blocks


def block_limits(block_rows, n_columns, itemsize):
    """(rows up to which row groups merge, rows above which one is split) for a read."""
    if block_rows is not None:
        return block_rows, block_rows
    budget = max(1, BLOCK_BYTES // (max(1, n_columns) * itemsize))
    return min(budget, DEFAULT_BLOCK_ROWS), DEFAULT_BLOCK_ROWS


def plan_parquet(path, *, select, itemsize, block_rows=None, storage_options=None):
    """The :class:`Source` of parquet files, and ``select(schema, name)``: the columns a read uses.

    The used columns and ``itemsize`` (bytes of a number as read) size the blocks.
    """
    fs, files, _ = list_files(path, "parquet", storage_options)
    names = tuple(display(fs, p) for p in files)
    footers = tuple(_footer(fs, p, n) for p, n in zip(files, names, strict=True))
    schemas = tuple(m.schema.to_arrow_schema() for m in footers)
    used = select(schemas[0], names[0])
    merge, split = block_limits(block_rows, len(used), itemsize)
    blocks = []
    for i, meta in enumerate(footers):
        rg_rows = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        for groups, lo, hi, first in plan_row_groups(rg_rows, merge, split):
            rows = sum(rg_rows[g] for g in groups) if lo is None else hi - lo
            blocks.append(Block(i, first, rows, (groups, lo, hi)))
    token = _token("parquet", fs, files, merge, split)
    source = Source("parquet", fs, tuple(files), names, schemas[0], tuple(blocks), token, schemas,
                    footers)
    return source, used


def _read_parquet(source, block, columns, threads):
    groups, lo, hi = block.span
    name = source.displays[block.file]
    try:
        with open_file(source.fs, source.files[block.file]) as f:
            # The footer parsed at planning is reused: parsing it in every task costs time
            # quadratic in the row groups.
            pf = pq.ParquetFile(f, metadata=source.footers[block.file])
            if lo is None:
                return pf.read_row_groups(list(groups), columns=list(columns), use_threads=threads)
            batches, seen = [], 0
            for batch in pf.iter_batches(hi - lo, row_groups=list(groups), columns=list(columns),
                                         use_threads=threads):
                if seen + batch.num_rows > lo:
                    batches.append(batch)
                seen += batch.num_rows
                if seen >= hi:
                    break
            table = pa.Table.from_batches(batches, schema=batches[0].schema)
            return table.slice(lo - (seen - table.num_rows), hi - lo)
    except (pa.ArrowException, OSError) as e:
        raise ValueError(
            f"cannot read row group(s) {list(groups)} of {name}: {e}. The file is truncated or "
            f"corrupt; rewrite it or move it out of the data set"
        ) from e


# ----------------------------------------------------------------------------------------- CSV
def _scan_csv(fs, path, name, block_rows, delimiter):
    """(sampled arrow table, [(start byte, stop byte, rows)]) of one CSV file."""
    with fs.open(path, "rb") as f:
        header = f.readline()
        if not header.strip():
            raise ValueError(f"{name} is empty; every CSV part needs a header line")
        body = f.read(_CSV_SAMPLE_BYTES)
        if len(body) == _CSV_SAMPLE_BYTES:
            body = body[:body.rfind(b"\n") + 1]
        # The sample only settles the types: malformed lines are reported, with their number,
        # when their block is read.
        options = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=lambda row: "skip")
        try:
            sample = pacsv.read_csv(io.BytesIO(header.rstrip(b"\r\n") + b"\n" + body),
                                    parse_options=options)
        except pa.ArrowInvalid as e:
            raise ValueError(f"cannot parse the first lines of {name}: {e}") from e
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
    return sample, blocks


def plan_csv(path, *, block_rows=DEFAULT_BLOCK_ROWS, delimiter=",", storage_options=None,
             samples=None):
    """The :class:`Source` of CSV files, each with a header line; ``samples``, when a list,
    receives ``(file name, first line, sampled table)`` of each part with rows."""
    fs, files, _ = list_files(path, "csv", storage_options)
    names = tuple(display(fs, p) for p in files)
    scans = [_scan_csv(fs, p, n, block_rows, delimiter) for p, n in zip(files, names, strict=True)]
    if samples is not None:
        samples += [(n, 2, table) for n, (table, blocks) in zip(names, scans, strict=True)
                    if blocks]
    scans = [(table.schema, blocks) for table, blocks in scans]
    header = scans[0][0].names
    for n, (schema, _) in zip(names, scans, strict=True):
        if schema.names != header:
            raise ValueError(
                f"parts have different schemas: {n} has header {schema.names} but {names[0]} "
                f"has {header}; every part needs the same header"
            )
    # A header-only part says nothing about types: they come from the first part with rows.
    schema = next((s for s, blocks in scans if blocks), scans[0][0])
    # A column empty in every sample is parsed as numbers (a later non-number names its line).
    schema = pa.schema([pa.field(f.name, pa.float64()) if pa.types.is_null(f.type) else f
                        for f in schema])
    blocks = []
    for i, (_, file_blocks) in enumerate(scans):
        line = 2
        for start, stop, n in file_blocks:
            blocks.append(Block(i, line, n, (start, stop)))
            line += n
    token = _token("csv", fs, files, block_rows, delimiter)
    # Parts without rows have nothing to disagree with.
    schemas = tuple(s if blocks else schema for s, blocks in scans)
    return Source("csv", fs, tuple(files), names, schema, tuple(blocks), token, schemas,
                  csv_delimiter=delimiter)


def _parse_csv(data, source, columns, threads, on_invalid=None):
    types = {c: source.schema.field(c).type for c in columns}
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=source.schema.names, use_threads=threads),
        parse_options=pacsv.ParseOptions(delimiter=source.csv_delimiter, ignore_empty_lines=False,
                                         invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(include_columns=list(columns), column_types=types,
                                             strings_can_be_null=True))


def _read_csv(source, block, columns, threads):
    start, stop = block.span
    name = source.displays[block.file]
    with open_file(source.fs, source.files[block.file]) as f:
        f.seek(start)
        data = f.read(stop - start)
    try:
        # Threads parse faster but lose line numbers: a failing block is parsed again alone.
        table = _parse_csv(data, source, columns, threads=threads)
    except pa.ArrowInvalid:
        invalid = []
        try:
            _parse_csv(data, source, columns, False, lambda row: invalid.append(row) or "error")
        except pa.ArrowInvalid as e:
            if invalid:
                row, line = invalid[0], block.first + (invalid[0].number or 1) - 1
                what = f"{row.actual_columns} fields where the header has {row.expected_columns}"
            else:
                found = re.search(r"Row #(\d+)", str(e))
                line = block.first + int(found.group(1)) - 1 if found else block.first
                what = re.sub(r"Row #\d+: ", "", str(e))
            raise ValueError(f"cannot parse line {line} of {name}: {what}. Fix or remove it") \
                from e
        raise
    if table.num_rows != block.rows:
        raise ValueError(
            f"lines {block.first}-{block.first + block.rows - 1} of {name} parsed into "
            f"{table.num_rows} rows, not {block.rows}: quoted values spanning lines are not "
            f"supported; convert the file to parquet"
        )
    return table


# ------------------------------------------------------------------------------------ schemas
# Kinds of values a column may switch between from one part to the next.
_ALIKE = ({"number", "boolean"}, {"string", "category"})


def check_parts(source, used, *, strict):
    """Check every part of ``source`` against the first: each holds the ``used`` columns, with
    the same kind of values (numbers and booleans mix, and strings and categories); with ``strict``
    (the default column set) no part has columns the first lacks.
    """
    first_name, first = source.displays[0], source.part_schemas[0]
    for name, schema in zip(source.displays[1:], source.part_schemas[1:], strict=True):
        missing = [c for c in used if c not in schema.names]
        extra = [c for c in schema.names if c not in first.names] if strict else []
        if missing or extra:
            raise ValueError(
                f"parts have different schemas: {name} lacks {missing} and has extra {extra} "
                f"compared with {first_name}; rewrite the odd part, or pick the shared columns "
                f"with columns=[...]"
            )
        for column in used:
            a, b = first.field(column).type, schema.field(column).type
            ka, kb = kind_of(a), kind_of(b)
            alike = ka == kb or any({ka, kb} <= kinds for kinds in _ALIKE)
            if not alike and not (pa.types.is_null(a) or pa.types.is_null(b)):
                raise ValueError(
                    f"parts have different schemas: column {column!r} holds {kb} values ({b}) "
                    f"in {name} but {ka} values ({a}) in {first_name}; cast it to one type"
                )


def _token(kind, fs, files, *args):
    from dask.base import tokenize

    # ukey changes when a file is rewritten, so a re-read of changed files gets new keys.
    return f"{kind}-" + tokenize([(p, fs.ukey(p)) for p in files], *args)
