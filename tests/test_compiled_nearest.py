"""The nearest-centre kernel compiled from LLVM IR: labels equal to argmin, ties and NaN rows
as the other k-means paths give them, any row count and thread count."""

import numpy as np
import pytest
from sklearn.cluster import MiniBatchKMeans

import outofcore as ooc
from outofcore.compiled import _nearest

if _nearest.labeller(3, np.float32) is None:
    pytest.skip("llvmlite cannot compile the kernel in this process", allow_module_level=True)


def _integer_problem(rng, n, d, k, dtype):
    # Small integers: every product and sum is exact in float32, so the scores are the same
    # whatever the order of the additions, ties are real, and argmin is the exact reference.
    x = rng.integers(-3, 4, size=(n, d)).astype(dtype)
    w = rng.integers(-2, 3, size=(k, d)).astype(dtype)
    b = rng.integers(-4, 5, size=k).astype(dtype)
    return x, w, b


def _labels(x, w, b, threads=1):
    w_t, bias = _nearest.prepare(w, b, x.dtype)
    out = np.full(len(x), -1, np.int32)
    return _nearest.labeller(len(w), x.dtype)(x, w_t, bias, out, threads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 2, 3, 8, 9, 17, 64])
@pytest.mark.parametrize("n", [1, 3, 8, 13, 1001])
def test_labels_are_the_first_minimum(dtype, k, n, rng):
    """Every row count around the rows-side-by-side blocks, padded lane counts, both dtypes:
    labels equal argmin's, ties included (integer scores tie often)."""
    x, w, b = _integer_problem(rng, n, 6, k, dtype)
    scores = x.astype(np.float64) @ w.T.astype(np.float64) + b
    np.testing.assert_array_equal(_labels(x, w, b), scores.argmin(axis=1))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_split_the_rows_without_gaps(threads, rng):
    """Above the parallel threshold the rows are split between threads: each row labelled once,
    the same as one thread."""
    x, w, b = _integer_problem(rng, _nearest._PARALLEL_ROWS * 2 + 5, 4, 5, np.float32)
    scores = x.astype(np.float64) @ w.T.astype(np.float64) + b
    np.testing.assert_array_equal(_labels(x, w, b, threads), scores.argmin(axis=1))


def test_rows_without_a_finite_score_get_the_last_label(rng):
    """A NaN feature makes every score NaN; an overflowing row has no score below +inf: both get
    the last label, as the numba kernel and the tensor program give them. Other rows are not
    disturbed."""
    x, w, b = _integer_problem(rng, 12, 4, 5, np.float32)
    w[:, 0] = 1  # so an infinite first feature gives +inf in every score
    expected = (x.astype(np.float64) @ w.T.astype(np.float64) + b).argmin(axis=1)
    x[3, 2] = np.nan
    x[7, 0] = np.inf
    expected[[3, 7]] = 4
    np.testing.assert_array_equal(_labels(x, w, b), expected)


def test_nan_scores_lose_to_the_others():
    """An infinite feature with weights 0, 1 and -1 gives NaN, +inf and -inf scores: the first
    -inf wins, as in a running minimum that NaN never replaces (the numba kernel's rule)."""
    x = np.array([[np.inf, 1.0], [-np.inf, 1.0]], np.float32)
    w = np.array([[0, 0], [1, 0], [0, 0], [-1, 0], [-1, 0], [1, 0]], np.float32)
    b = np.zeros(6, np.float32)
    np.testing.assert_array_equal(_labels(x, w, b), [3, 1])


def test_padded_lanes_never_win(rng):
    """Three centres fill eight lanes; the padding (zero weight, +inf bias) loses to scores as
    large as float32 allows."""
    x = np.ones((4, 2), np.float32)
    w = np.zeros((3, 2), np.float32)
    b = np.array([3e38, 2e38, 3e38], np.float32)
    np.testing.assert_array_equal(_labels(x, w, b), [1, 1, 1, 1])


def test_wrong_arrays_are_refused_before_the_kernel_runs():
    """The kernel trusts its arguments' sizes; the wrapper checks them first."""
    x = np.zeros((5, 3), np.float32)
    w_t, bias = _nearest.prepare(np.zeros((4, 3), np.float32), np.zeros(4, np.float32), np.float32)
    run = _nearest.labeller(4, np.float32)
    with pytest.raises(ValueError, match="wrong shape"):
        run(x, w_t, bias, np.empty(4, np.int32), 1)  # output one row short
    with pytest.raises(ValueError, match="wrong shape"):
        run(np.asfortranarray(np.zeros((5, 3), np.float32)), w_t, bias, np.empty(5, np.int32), 1)
    with pytest.raises(ValueError, match="wrong shape"):
        run(x.astype(np.float64), w_t, bias, np.empty(5, np.int32), 1)
    no_features = _nearest.prepare(np.zeros((4, 0), np.float32), np.zeros(4, np.float32),
                                   np.float32)
    with pytest.raises(ValueError, match="wrong shape"):
        run(np.zeros((5, 0), np.float32), *no_features, np.empty(5, np.int32), 1)


def test_compiled_kmeans_uses_the_kernel_on_cpu_and_matches_its_other_paths(rng):
    """A compiled MiniBatchKMeans predicts through the kernel on CPU, with labels equal to
    scikit-learn's; the numba and tensor paths (used where the kernel is unavailable) agree."""
    X = rng.normal(size=(50_000, 8)).astype(np.float32)
    model = MiniBatchKMeans(n_clusters=12, n_init=1, random_state=0).fit(X[:5000])
    compiled = ooc.compile_pipeline(model)
    head = compiled._head
    assert head.nearest is not None and head.streams("predict")
    ours = compiled.predict(X)
    assert np.mean(ours == model.predict(X)) >= 0.9999
    head.nearest = None
    if head.native:
        np.testing.assert_array_equal(compiled.predict(X), ours)
    head.native = False
    assert np.mean(compiled.predict(X) == ours) >= 0.9999
