"""The preprocessing ``outofcore fit`` builds from a table's schema.

Each column's type decides its branch of one ColumnTransformer:

* text and categorical columns: one-hot encoded, categories seen in fewer than
  ``--min-frequency`` rows sharing one "infrequent" column, unknown ones going there too;
* numbers: missing values imputed (``--impute``, median by default) with missing-value
  indicators, then scaled (``--scaler``);
* booleans: missing values replaced by the most frequent value, kept as 0 and 1;
* timestamps and dates: hour, day of week and month, each one-hot encoded (linear models then
  learn a daily, weekly and yearly profile).
"""

from outofcore.io.convert import kind_of

DATE_FEATURES = ("hour", "day_of_week", "month")


def groups(schema):
    """Column names by kind: ``{"text": [...], "number": [...], "boolean": [...],
    "timestamp": [...]}`` (every key present); other kinds are refused."""
    found = {"text": [], "number": [], "boolean": [], "timestamp": []}
    for field in schema:
        kind = kind_of(field.type)
        key = {"string": "text", "category": "text"}.get(kind, kind)
        if key not in found:
            raise ValueError(f"column {field.name!r} holds {field.type} values, which `outofcore "
                             f"fit` does not learn from; leave it out with --exclude "
                             f"{field.name}")
        found[key].append(field.name)
    return found


def preprocessing(schema, *, scaler="standard", impute="median", min_frequency=100):
    """``(ColumnTransformer, description lines)`` for a table of this schema.

    Parameters
    ----------
    schema : pyarrow.Schema
        The feature columns.
    scaler : {"standard", "minmax", "maxabs", "none"}
    impute : {"mean", "median", "most_frequent"}
    min_frequency : int
        Rows a category needs to have a column of its own.

    Examples
    --------
    >>> import pyarrow as pa
    >>> ct, said = preprocessing(pa.schema([("city", pa.string()), ("km", pa.float64())]))
    >>> said[0]
    'one-hot (categories in fewer than 100 rows share one column): city'
    """
    from sklearn.pipeline import make_pipeline

    import outofcore as ooc
    from outofcore.cli.models import SCALERS

    by_kind = groups(schema)
    branches, said = [], []
    if by_kind["text"]:
        branches.append(("text", ooc.OneHotEncoder(handle_unknown="infrequent_if_exist",
                                                   min_frequency=min_frequency),
                         by_kind["text"]))
        said.append(f"one-hot (categories in fewer than {min_frequency} rows share one column): "
                    f"{', '.join(by_kind['text'])}")
    if by_kind["number"]:
        steps = [ooc.SimpleImputer(strategy=impute, add_indicator=True)]
        if SCALERS[scaler] is not None:
            steps.append(getattr(ooc, SCALERS[scaler])())
        branches.append(("numbers", make_pipeline(*steps), by_kind["number"]))
        said.append(f"{impute}-imputed (with missing-value indicators)"
                    + (f", {scaler}-scaled" if SCALERS[scaler] is not None else "")
                    + f": {', '.join(by_kind['number'])}")
    if by_kind["boolean"]:
        branches.append(("booleans", ooc.SimpleImputer(strategy="most_frequent"),
                         by_kind["boolean"]))
        said.append(f"0/1 (missing: the most frequent): {', '.join(by_kind['boolean'])}")
    if by_kind["timestamp"]:
        branches.append(("times", make_pipeline(
            ooc.DateTimeFeatures(features=DATE_FEATURES),
            ooc.OneHotEncoder(handle_unknown="ignore")), by_kind["timestamp"]))
        said.append(f"{', '.join(f.replace('_', ' ') for f in DATE_FEATURES)}, one-hot: "
                    f"{', '.join(by_kind['timestamp'])}")
    return ooc.ColumnTransformer(branches), said
