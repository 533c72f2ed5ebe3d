"""Shared fixtures: small deterministic data sets, written to parquet/CSV when a test needs files."""

import numpy as np
import pytest


def _cuda_available():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="no CUDA device on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def classification_data():
    """2000 x 5 float32 features on different scales, 3 integer classes."""
    rng = np.random.default_rng(42)
    X = (rng.normal(size=(2000, 5)) * [1, 10, 0.1, 5, 2] + [0, 5, -3, 100, 1]).astype(np.float32)
    w = rng.normal(size=(5, 3))
    y = np.argmax((X - X.mean(0)) / X.std(0) @ w + rng.normal(scale=0.5, size=(2000, 3)), axis=1)
    return X, y.astype(np.int64)


@pytest.fixture(scope="session")
def regression_data():
    """2000 x 5 float32 features, a float64 target linear in the standardized features."""
    rng = np.random.default_rng(7)
    X = (rng.normal(size=(2000, 5)) * [1, 10, 0.1, 5, 2] + [0, 5, -3, 100, 1]).astype(np.float32)
    w = rng.normal(size=5)
    y = (X - X.mean(0)) / X.std(0) @ w + rng.normal(scale=0.1, size=2000)
    return X, y
