"""Converters for OneHotEncoder and OrdinalEncoder: categories to codes, before the tensor program.

An encoder reading input columns (first in the pipeline, or in a ColumnTransformer that is) maps
each column by a *lookup* (``_inputs.Lookup``), run on the input table before any tensor exists;
after other steps it sees numbers and becomes a ``recode`` step (binary search in the tensor
program). The numbers are an OrdinalEncoder's output, or the column a OneHotEncoder sets (-1 for
none) for the ``onehot`` step or a gather of weight rows. A SimpleImputer just before an encoder
folds into the lookup. Only fitted attributes are read (``categories_``, ``drop_idx_``,
``infrequent_categories_``, ``statistics_``, ...): a class with scikit-learn's names converts too.
"""

import numpy as np

from ._spec import Node


def is_nan(value):
    """True for a float NaN (scikit-learn's missing category; None is another one)."""
    return isinstance(value, (float, np.floating)) and value != value


def _json(value):
    for kinds, cast in (((str, np.str_), str), ((bool, np.bool_), bool), ((int, np.integer), int),
                        ((float, np.floating), float)):
        if isinstance(value, kinds):
            return cast(value)
    raise TypeError(f"category {value!r} of type {type(value).__name__} cannot be stored in a "
                    "compiled model; use strings or numbers")


def _slots(est, j, categories, nan_apart):
    """Output slot of each category: frequent ones in order, then one slot for the infrequent group.

    Returns ``(slot per category, number of slots, group slot or None)``; with ``nan_apart``
    (OrdinalEncoder) the NaN category gets slot None and counts for nothing.
    """
    found = getattr(est, "infrequent_categories_", None)  # absent unless grouping is enabled
    infrequent = [] if found is None or found[j] is None else list(found[j])
    # A set, not a scan per category: a 100k-value column has about as many infrequent ones.
    nan_rare, none_rare = any(is_nan(r) for r in infrequent), any(r is None for r in infrequent)
    rest = {r for r in infrequent if r is not None and not is_nan(r)}
    rare = [nan_rare if is_nan(c) else none_rare if c is None else c in rest for c in categories]
    apart = [nan_apart and is_nan(c) for c in categories]
    n = sum(not (a or r) for a, r in zip(apart, rare))
    group, frequent = (n if any(rare) else None), iter(range(n))
    slots = [None if a else group if r else next(frequent) for a, r in zip(apart, rare)]
    return slots, n + (group is not None), group


def _lookup(est, j, categories, codes, unknown, imputer, warn=None):
    """The lookup spec of input column ``j``: category keys and their codes. None and NaN are two
    categories to scikit-learn (None in object columns; NaN, and here also pandas' ``pd.NA``,
    elsewhere): each has its code, or is ``"unknown"`` when not seen. Arrow marks both as null,
    which takes the code of whichever the encoder saw (NaN when it saw both)."""
    keys, key_codes, none, nan = [], [], "unknown", "unknown"
    for cat, code in zip(categories, codes):
        if cat is None:
            none = code
        elif is_nan(cat):
            nan = code
        else:
            keys.append(_json(cat))
            key_codes.append(code)
    if imputer is not None:
        fill = imputer.statistics_[j]
        known = [key_codes[k] for k, key in enumerate(keys) if key == fill]
        fill_code = known[0] if known else (none if fill is None else nan if is_nan(fill) else "unknown")
        marker = imputer.missing_values
        if marker is None:
            none = fill_code
        elif is_nan(marker):
            nan = fill_code
        elif marker in keys:
            key_codes[keys.index(marker)] = fill_code
        else:
            keys.append(_json(marker))
            key_codes.append(fill_code)
    saw_none = any(c is None for c in categories) and not any(is_nan(c) for c in categories)
    names = getattr(est, "feature_names_in_", None)
    return {"name": str(names[j]) if names is not None else str(j), "index": j, "keys": keys,
            "codes": key_codes, "nan": nan, "none": none, "null": none if saw_none else nan,
            "unknown": unknown, "warn": warn}


def _place(est, ctx, specs):
    """Lookups of input columns (their tensor columns go to ``ctx.reads``), or a ``recode`` step."""
    if ctx.raw is not None:
        ctx.reads = [ctx.add({"source": int(column), "lookup": spec}) for column, spec in zip(ctx.raw, specs)]
        return []
    if any(spec["unknown"] == "error" for spec in specs):
        raise TypeError(f"{ctx.where}{type(est).__name__}(handle_unknown='error') after other steps "
                        "cannot raise on an unknown category; make it read input columns, or set "
                        "handle_unknown to encode unknown categories")
    keys, codes, starts = [], [], [0]
    for spec in specs:
        if not all(isinstance(k, (int, float)) for k in spec["keys"]):
            raise TypeError(f"{ctx.where}{type(est).__name__} after other steps sees numbers, but "
                            "its categories are strings; make it read input columns")
        order = np.argsort(spec["keys"], kind="stable")
        keys += [float(spec["keys"][i]) for i in order]
        codes += [spec["codes"][i] for i in order]
        starts.append(len(keys))
    arrays = {"keys": np.asarray(keys, np.float64), "codes": _floats(codes),
              "starts": np.asarray(starts, np.int64),
              "missing": _floats([s["unknown"] if s["nan"] == "unknown" else s["nan"] for s in specs]),
              "unknown": _floats([s["unknown"] for s in specs])}
    return [Node("recode", {"accepts": "nan"}, arrays)]


def _floats(codes):
    return np.asarray([np.nan if c is None else c for c in codes], np.float64)


def one_hot_encoder(est, ctx):
    """OneHotEncoder: one output column per kept category (infrequent ones grouped, one dropped)."""
    drop = getattr(est, "drop_idx_", None)
    specs, offset = [], 0
    for j, categories in enumerate(est.categories_):
        slots, n_slots, group = _slots(est, j, categories, nan_apart=False)
        dropped = None if drop is None or drop[j] is None else slots[int(drop[j])]

        def output(slot):
            if slot is None or slot == dropped:
                return -1
            return offset + slot - (dropped is not None and slot > dropped)

        handle = est.handle_unknown
        unknown = "error" if handle == "error" else (
            output(group) if handle in ("infrequent_if_exist", "warn") else -1)
        warn = None
        if handle == "warn" or (drop is not None and handle in ("ignore", "infrequent_if_exist")):
            into = "the infrequent category" if handle != "ignore" else "all zeros"
            warn = (f"Found unknown categories in columns [{j}] during transform. These unknown "
                    f"categories will be encoded as {into}.")
        specs.append(_lookup(est, j, categories, [output(s) for s in slots], unknown, ctx.imputer, warn))
        offset += n_slots - (dropped is not None)
    return _place(est, ctx, specs) + [Node("onehot", {"n_out": offset, "accepts": "codes"})]


def ordinal_encoder(est, ctx):
    """OrdinalEncoder: the code of each category (infrequent ones share the last), as numbers. A
    lookup yields the encoder's output itself, so no tensor step remains."""
    specs = []
    for j, categories in enumerate(est.categories_):
        slots, _, _ = _slots(est, j, categories, nan_apart=True)
        marker, value = est.encoded_missing_value, est.unknown_value
        # The NaN category is encoded as encoded_missing_value; None is a category like others.
        codes = [(None if is_nan(marker) else float(marker)) if s is None else float(s) for s in slots]
        unknown = "error" if est.handle_unknown == "error" else (
            None if value is None or is_nan(value) else float(value))
        specs.append(_lookup(est, j, categories, codes, unknown, ctx.imputer))
    return _place(est, ctx, specs)
