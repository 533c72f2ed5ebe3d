"""IncrementalSearchCV: successive halving over one stream of blocks. Results in scikit-learn's
format, seeded, the winner equal to an Incremental fit of it alone, each block read once per pass
whatever the number of candidates, and what cannot be searched refused before any block."""

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.model_selection import HalvingGridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

import outofcore as ooc
from outofcore.io import plan
from outofcore.training import halving

GRID = {"sgdclassifier__alpha": [1e-5, 1e-3, 1e-1], "sgdclassifier__loss": ["hinge", "log_loss"]}


def _blobs(n=4000, k=4, seed=0, chunks=250):
    """Features on different scales, a noisy linear label; dask arrays in ``chunks`` rows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k)) * [1, 10, 0.1, 5] + [0, 5, -3, 100]
    y = ((X - X.mean(0)) / X.std(0) @ rng.normal(size=k) + rng.normal(size=n) > 0).astype(int)
    return da.from_array(X, chunks=(chunks, k)), da.from_array(y, chunks=chunks)


def _search(estimator=None, grid=GRID, **params):
    estimator = make_pipeline(ooc.StandardScaler(), SGDClassifier()) if estimator is None \
        else estimator
    return ooc.IncrementalSearchCV(estimator, grid, **{"random_state": 0, **params})


def test_results_have_the_keys_of_scikit_learns_halving_search():
    """cv_results_ holds every key of scikit-learn's HalvingGridSearchCV (one split), one row per
    candidate per rung, and agrees with n_candidates_, n_resources_ and the best_ attributes."""
    X, y = _blobs()
    search = _search(max_epochs=2).fit(X, y)
    reference = HalvingGridSearchCV(SGDClassifier(), {"alpha": [1e-5, 1e-3],
                                                      "loss": ["hinge", "log_loss"]},
                                    cv=2, return_train_score=False, random_state=0).fit(
        X[:400].compute(), y[:400].compute())
    expected = {k.replace("param_", "param_sgdclassifier__") for k in reference.cv_results_
                if not k.startswith("split1")}
    results = search.cv_results_
    assert expected <= set(results)
    rows = sum(search.n_candidates_)
    assert all(len(v) == rows for v in results.values())
    assert search.n_candidates_ == [6, 2, 1]
    assert_array_equal(results["iter"], np.repeat([0, 1, 2], search.n_candidates_))
    assert_array_equal(results["n_resources"], np.repeat(search.n_resources_,
                                                          search.n_candidates_))
    assert search.n_resources_[-1] == search.max_resources_ == 2 * (4000 - 2 * 250)
    assert isinstance(results["param_sgdclassifier__alpha"], np.ma.MaskedArray)
    assert results["rank_test_score"][search.best_index_] == 1
    assert results["params"][search.best_index_] == search.best_params_
    assert results["mean_test_score"][search.best_index_] == search.best_score_
    assert list(results["params"][:6]) == list(halving.candidate_params(GRID, None, 0))


def test_the_same_seed_gives_the_same_search():
    """Two fits with one random_state give the same results and model; another seed another
    stream."""
    X, y = _blobs()
    first, second, other = (_search(max_epochs=2, random_state=s).fit(X, y) for s in (1, 1, 2))
    assert_array_equal(first.cv_results_["mean_test_score"],
                       second.cv_results_["mean_test_score"])
    assert first.cv_results_["params"] == second.cv_results_["params"]
    assert_array_equal(first.best_estimator_[-1].coef_, second.best_estimator_[-1].coef_)
    assert not np.array_equal(first.cv_results_["mean_test_score"],
                              other.cv_results_["mean_test_score"])


_PROBABILITIES = {**GRID, "sgdclassifier__loss": ["log_loss", "modified_huber"]}
_REGRESSION = {"sgdregressor__alpha": [1e-4, 1e-1, 1.0], "sgdregressor__eta0": [0.001, 0.01]}


@pytest.mark.parametrize("learner, grid, scoring, chunks, epochs", [
    (SGDClassifier(), GRID, None, 250, 1),
    (SGDClassifier(), GRID, None, 250, 3),
    (SGDClassifier(), GRID, None, 2000, 2),
    (SGDClassifier(), _PROBABILITIES, "neg_log_loss", 250, 2),
    (SGDRegressor(), _REGRESSION, None, 2000, 2),
], ids=["held-out-blocks", "three-epochs", "held-out-rows", "scorer", "regressor"])
def test_the_winner_is_an_incremental_fit_of_its_parameters(learner, grid, scoring, chunks,
                                                              epochs):
    """best_estimator_ equals, bit for bit, the Incremental of its parameters fitted alone with
    the documented settings (model, per-epoch validation scores, a later partial_fit), and
    clone(best_estimator_).fit reproduces it."""
    X, y = _blobs(chunks=chunks)
    if isinstance(learner, SGDRegressor):
        y = X[:, 0] * 0.5 - X[:, 1] * 0.02
    search = _search(make_pipeline(ooc.StandardScaler(), learner), grid, max_epochs=epochs,
                     scoring=scoring, random_state=3).fit(X, y)
    name = search.best_estimator_.steps[-1][0]
    scaled = search.best_estimator_[:-1].transform(X)
    alone = ooc.Incremental(
        clone(learner).set_params(**{k.split("__")[1]: v for k, v in
                                     search.best_params_.items()}),
        epochs=epochs, early_stopping=True, n_iter_no_change=epochs, validation_fraction=0.1,
        scoring=scoring, random_state=3).fit(scaled, y)
    best = search.best_estimator_[-1]
    assert name == type(learner).__name__.lower()
    assert_array_equal(best.coef_, alone.coef_)
    assert_array_equal(best.intercept_, alone.intercept_)
    assert [h["score"] for h in best.history_] == [h["score"] for h in alone.history_]
    assert best.history_[-1]["score"] == search.best_score_
    assert (best.n_samples_seen_, best.n_epochs_) == (alone.n_samples_seen_, alone.n_epochs_)
    assert best.estimator_.shuffle is True
    again = clone(search.best_estimator_).fit(X, y)
    assert_array_equal(again[-1].coef_, best.coef_)
    best.partial_fit(scaled, y)
    alone.partial_fit(scaled, y)
    assert_array_equal(best.coef_, alone.coef_)


def test_without_halving_every_candidate_scores_as_its_own_fit():
    """min_resources of the whole stream: one rung where every candidate learns every epoch,
    and each candidate's score is that of its own Incremental fit (scored independently)."""
    X, y = _blobs()
    search = _search(max_epochs=2, min_resources=10**9).fit(X, y)
    assert search.n_candidates_ == [6] and set(search.cv_results_["iter"]) == {0}
    Xs = search.best_estimator_[:-1].transform(X)
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"],
                             strict=True):
        alone = ooc.Incremental(
            SGDClassifier(**{k.split("__")[1]: v for k, v in params.items()}), epochs=2,
            early_stopping=True, n_iter_no_change=2, random_state=0).fit(Xs, y)
        assert alone.history_[-1]["score"] == score
    assert search.best_score_ == search.cv_results_["mean_test_score"].max()


def test_ties_go_to_the_first_candidate():
    """Candidates that learn the same model tie at every rung; the lower index goes on."""
    X, y = _blobs()
    search = _search(grid={"sgdclassifier__alpha": [1e-3] * 9}, max_epochs=1).fit(X, y)
    assert search.n_candidates_ == [9, 3, 1]
    assert_array_equal(search.cv_results_["candidate"], [*range(9), 0, 1, 2, 0])
    assert search.cv_results_["candidate"][search.best_index_] == 0


@pytest.mark.parametrize("n_candidates", [1, 6])
def test_each_block_is_read_once_per_pass(tmp_path, monkeypatch, n_candidates):
    """Every training block's features and target are read once per epoch and the held-out
    block once per scoring, whatever the number of candidates; the scaler reads features once."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(1200, 3)), columns=["a", "b", "c"])
    frame["t"] = (frame["a"] + rng.normal(size=1200) > 0).astype("int64")
    frame.to_parquet(tmp_path / "p.parquet", row_group_size=100)
    calls = []
    read = plan.Source.read
    monkeypatch.setattr(plan.Source, "read", lambda self, i, columns, **kw: calls.append(
        (i, tuple(columns))) or read(self, i, columns, **kw))
    X, y = ooc.read_parquet(tmp_path, target="t", block_rows=100)
    grid = {"sgdclassifier__alpha": list(np.logspace(-5, 0, n_candidates))}
    search = _search(grid=grid, max_epochs=2, classes=[0, 1]).fit(X, y)
    valid = search.best_estimator_[-1]._held[0]
    scorings = len(set(search.n_resources_) | {search.max_resources_ // 2,
                                              search.max_resources_})
    assert len(valid) == 1
    for i in range(12):
        features = calls.count((i, ("a", "b", "c")))
        target = calls.count((i, ("t",)))
        if i in valid:
            assert (features, target) == (1 + scorings, scorings)
        else:
            assert (features, target) == (1 + 2, 2)


def test_predicts_lazily_on_tables(tmp_path):
    """A search on a parquet read predicts a dask array equal to its winner's eager prediction."""
    X, y = _blobs(1200, chunks=200)
    frame = pd.DataFrame(X.compute(), columns=["a", "b", "c", "d"]).assign(t=y.compute())
    frame.to_parquet(tmp_path / "p.parquet", row_group_size=200)
    Xt, yt = ooc.read_parquet(tmp_path, target="t", block_rows=200)
    search = _search(max_epochs=2).fit(Xt, yt)
    labels = search.predict(Xt)
    assert isinstance(labels, da.Array)
    expected = search.best_estimator_[-1].estimator_.predict(
        search.best_estimator_[:-1].transform(Xt).compute())
    assert_array_equal(labels.compute(), expected)
    assert search.score(Xt, yt) == pytest.approx(np.mean(expected == frame["t"]))


@pytest.mark.parametrize("estimator, grid", [
    (make_pipeline(ooc.StandardScaler(), ooc.Incremental(SGDClassifier())),
     {"incremental__estimator__alpha": [1e-4, 1e-2]}),
    (ooc.Incremental(SGDClassifier()), {"estimator__alpha": [1e-4, 1e-2]}),
    (SGDClassifier(), {"alpha": [1e-4, 1e-2]}),
], ids=["pipeline-incremental", "incremental", "bare"])
def test_an_incremental_or_a_bare_learner_is_searched_alike(estimator, grid):
    """The learner searched inside an Incremental, as the Incremental, or bare, gives the same
    winner; best_estimator_ ends with an Incremental either way."""
    X, y = _blobs()
    given = X if isinstance(estimator, Pipeline) else ooc.StandardScaler().fit_transform(X)
    search = _search(estimator, grid, max_epochs=2).fit(given, y)
    final = search.best_estimator_ if not hasattr(search.best_estimator_, "steps") \
        else search.best_estimator_[-1]
    reference = _search(make_pipeline(ooc.StandardScaler(), SGDClassifier()),
                        {"sgdclassifier__alpha": [1e-4, 1e-2]}, max_epochs=2).fit(X, y)
    assert isinstance(final, ooc.Incremental)
    assert_array_equal(final.coef_, reference.best_estimator_[-1].coef_)
    assert list(search.best_params_.values()) == list(reference.best_params_.values())


def _never_read():
    reads = []
    X = da.from_array(np.ones((40, 2)), chunks=10).map_blocks(
        lambda b: reads.append(1) or b, meta=np.empty((0, 0)))
    return X, da.from_array(np.arange(40) % 2, chunks=10), reads


@pytest.mark.parametrize("estimator, grid, error, match", [
    (make_pipeline(ooc.StandardScaler(), SGDClassifier()),
     {"standardscaler__with_mean": [True, False]}, ValueError,
     "'standardscaler__with_mean' is a parameter of the preprocessing step 'standardscaler'"),
    (make_pipeline(ooc.StandardScaler(), SVC()), {"svc__C": [1, 2]}, TypeError,
     "SVC has no partial_fit"),
    (make_pipeline(ooc.StandardScaler(), SGDClassifier()), {"sgdclassifier__alfa": [1]},
     ValueError, "'sgdclassifier__alfa' is not a parameter of the learner SGDClassifier; its "
                 "parameters are sgdclassifier__alpha, "),
    (make_pipeline(ooc.Incremental(SGDClassifier(), epochs=5)),
     {"incremental__estimator__alpha": [1]}, ValueError, "Incremental's epochs=5 would be "),
    (make_pipeline(ooc.Incremental(SGDClassifier())), {"incremental__epochs": [1, 2]},
     ValueError, "'incremental__epochs' is a setting of the Incremental"),
    (SGDClassifier(), {"alpha": __import__("scipy").stats.loguniform(1e-5, 1)}, TypeError,
     "n_candidates=None searches every combination"),
], ids=["preprocessing", "no-partial-fit", "unknown", "incremental-settings",
        "incremental-parameter", "distribution-without-n-candidates"])
def test_what_cannot_be_searched_is_refused_before_any_block(estimator, grid, error, match):
    """Each refusal names what is wrong and what to do, before a block is read."""
    X, y, reads = _never_read()
    with pytest.raises(error, match=match):
        ooc.IncrementalSearchCV(estimator, grid).fit(X, y)
    assert reads == []


@pytest.mark.parametrize("param, value, match", [
    ("factor", 1, "factor must be a number > 1"),
    ("max_epochs", 0, "max_epochs must be an integer >= 1"),
    ("min_resources", "all", "min_resources must be 'exhaust' or a number of rows"),
    ("n_candidates", 0, "n_candidates must be None or an integer >= 1"),
    ("error_score", "ignore", "error_score must be 'raise' or a number"),
    ("validation_fraction", 1.0, r"validation_fraction must be in \(0, 1\)"),
])
def test_bad_settings_are_named(param, value, match):
    """Each bad setting fails with its name and what it must be."""
    X, y, reads = _never_read()
    with pytest.raises(ValueError, match=match):
        _search(SGDClassifier(), {"alpha": [1e-4]}, **{param: value}).fit(X, y)
    assert reads == []


def test_too_few_blocks_for_the_rungs_say_what_to_change():
    """More rungs than blocks in the stream is an error naming block_rows, max_epochs and
    factor."""
    X, y = _blobs(chunks=1000)
    with pytest.raises(ValueError, match=r"3 rungs need at least 3 blocks.* has 2\. .*block_rows"):
        _search(max_epochs=1).fit(X[:2000], y[:2000])


class _Fragile(SGDClassifier):
    """An SGDClassifier whose partial_fit fails once it has seen ``fail_after`` blocks."""

    def __init__(self, *, fail_after=None, alpha=1e-4, random_state=None, shuffle=True):
        super().__init__(alpha=alpha, random_state=random_state, shuffle=shuffle)
        self.fail_after = fail_after

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        self.seen_ = getattr(self, "seen_", 0) + 1
        if self.fail_after is not None and self.seen_ > self.fail_after:
            raise FloatingPointError("diverged")
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


def test_a_failing_candidate_is_scored_error_score_and_dropped():
    """A candidate whose partial_fit raises gets error_score, a FitFailedWarning naming the
    error, and loses; error_score="raise" raises it; when every candidate fails, the first
    one's exception is raised, with a note naming it."""
    X, y = _blobs()
    grid = {"fail_after": [None, 1, None, 0], "alpha": [1e-4]}
    with pytest.warns(FitFailedWarning, match=r"2 of 4 candidates failed .*error_score=nan; "
                                              r"the first, candidate 1 .*FloatingPointError: "
                                              r"diverged"):
        search = _search(_Fragile(), grid, max_epochs=1).fit(X, y)
    results = search.cv_results_
    assert np.isnan(results["mean_test_score"][[1, 3]]).all()
    assert results["rank_test_score"][1] == results["rank_test_score"][3] == \
        len(results["iter"]) - 1
    assert search.best_params_["fail_after"] is None
    with pytest.raises(FloatingPointError, match="diverged"):
        _search(_Fragile(), grid, error_score="raise").fit(X, y)
    with pytest.raises(FloatingPointError, match="diverged") as raised:
        _search(_Fragile(), {"fail_after": [0, 1]}).fit(X, y)
    assert raised.value.__notes__ == ["Every candidate of rung 0 failed; this is the error of the "
                                      "first, candidate 0 {'fail_after': 0}."]


_HELD_OUT_ROWS = (
    "the held-out rows are drawn row by row, so a row of weight 2 and the same row repeated "
    "are held out differently; and partial_fit visits rows once per epoch (Incremental lists "
    "that failure for SGD on dense data)"
)


@parametrize_with_checks(
    [ooc.IncrementalSearchCV(SGDClassifier(random_state=0), {"alpha": [1e-4, 1e-2]},
                             max_epochs=20, random_state=0)],
    expected_failed_checks=lambda _: {
        "check_sample_weight_equivalence_on_dense_data": _HELD_OUT_ROWS,
        "check_sample_weight_equivalence_on_sparse_data": _HELD_OUT_ROWS})
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    """The search honours scikit-learn's estimator contract."""
    # Without it sklearn skips its array-API-with-NumPy check; with it that check runs too.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


@pytest.mark.parametrize("steps, n_rungs, factor, min_resources, expected", [
    ([100] * 27, 4, 3, "exhaust", [1, 3, 9, 27]),
    ([100] * 10, 4, 3, "exhaust", [1, 2, 4, 10]),
    ([100] * 4, 4, 3, "exhaust", [1, 2, 3, 4]),
    ([100] * 10, 4, 2, 250, [3, 5, 10]),
    ([100] * 10, 4, 2, 10**6, [10]),
    ([0, 50, 100, 50, 100, 100], 3, 2, "exhaust", [3, 4, 6]),
])
def test_rungs_end_at_whole_blocks(steps, n_rungs, factor, min_resources, expected):
    """Rung ends: the first block boundary past each target, strictly increasing, the last at
    the end of the stream; an int min_resources past the stream leaves fewer rungs."""
    assert halving.rung_ends(steps, n_rungs, factor, min_resources) == expected


def test_ranking_puts_nan_last_and_ties_by_index():
    """Highest score first, NaN last, equal scores in candidate order."""
    assert halving.ranked([0.5, np.nan, 0.7, 0.5], [3, 1, 2, 0]) == [2, 0, 3, 1]
    assert halving.rung_sizes(16, 3) == [16, 6, 2, 1]
    assert halving.rung_sizes(16, 2) == [16, 8, 4, 2, 1]


@pytest.fixture(scope="module")
def client():
    """One 2-process LocalCluster for the module; the dashboard takes any free port."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", memory_limit="1GiB") as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.mark.cluster
@pytest.mark.slow
def test_threaded_and_cluster_searches_are_the_same(client, tmp_path):
    """On a LocalCluster the candidates' steps run on the workers and give the threaded
    scheduler's results and winner, bit for bit."""
    X, y = _blobs(3000, chunks=300)
    frame = pd.DataFrame(X.compute(), columns=["a", "b", "c", "d"]).assign(t=y.compute())
    frame.to_parquet(tmp_path / "p.parquet", row_group_size=300)

    def run():
        Xt, yt = ooc.read_parquet(tmp_path, target="t", block_rows=500)
        return _search(max_epochs=2).fit(Xt, yt)

    remote = run()
    with dask.config.set(scheduler="threads"):
        local = run()
    assert_array_equal(remote.cv_results_["mean_test_score"],
                       local.cv_results_["mean_test_score"])
    assert_array_equal(remote.cv_results_["candidate"], local.cv_results_["candidate"])
    assert_array_equal(remote.best_estimator_[-1].coef_, local.best_estimator_[-1].coef_)
    assert [h["score"] for h in remote.best_estimator_[-1].history_] == \
        [h["score"] for h in local.best_estimator_[-1].history_]
