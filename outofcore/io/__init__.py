"""Reading data sets: parquet and CSV files -> lazy Tables with known blocks (the io layer)."""
