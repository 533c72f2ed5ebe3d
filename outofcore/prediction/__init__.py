"""Predicting: lazy outputs on dask collections, and ``predict_to_parquet``."""
