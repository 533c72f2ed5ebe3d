"""What every layer runs on: the dask scheduler in use, and BLAS/OpenMP threads kept within the cores."""
