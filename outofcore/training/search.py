"""``IncrementalSearchCV``: successive halving of many candidate learners over one stream of blocks.

The preprocessing steps of the Pipeline are fitted once; then every block of the stream is read,
transformed and prepared once and fed to every live candidate's ``partial_fit``
(:mod:`outofcore.training.candidates`). After each rung the live candidates are scored on the
held-out blocks (or rows), and the best ``1 / factor`` go on learning from where they are
(:mod:`outofcore.training.halving`). The last one standing has learned exactly the stream an
``Incremental`` fit of it alone learns, so no refit is needed: ``best_estimator_`` is the
Pipeline with that ``Incremental`` as its last step.
"""

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.metrics import get_scorer
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from outofcore.io.table import Table
from outofcore.preprocessing.base import forget_fit
from outofcore.runtime.threads import thread_guard
from outofcore.training import halving, validation
from outofcore.training.candidates import Learner, SharedStep
from outofcore.training.delegate import inner_has, wrapper_tags
from outofcore.training.incremental import Incremental
from outofcore.training.inputs import fit_inputs
from outofcore.training.rungs import Rungs
from outofcore.training.searched import learner_keys, learner_of
from outofcore.training.scoring import score_kind
from outofcore.training.sources import block_source
from outofcore.training.steps import FoldStep, check_partial_fit_params, shuffles_each_call


class IncrementalSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Search the parameters of a Pipeline's learner by successive halving, in one pass per epoch.

    The Pipeline's preprocessing steps are fitted once. Then each block is read, transformed and
    prepared (checked, shuffled) once and given to every live candidate's ``partial_fit``, the
    candidates learning side by side (threads here; on a ``distributed`` cluster, a task per
    candidate and block, placed by the scheduler beside the block or on an idle worker). After
    each rung the live candidates are scored on held-out data and the best
    ``ceil(live / factor)`` go on learning from where they stopped; the last rung ends after
    ``max_epochs`` epochs, so the winner has had a full fit.

    Parameters
    ----------
    estimator : Pipeline, Incremental or estimator with ``partial_fit``
        A Pipeline whose last step learns with ``partial_fit`` (an estimator such as
        SGDClassifier, or ``ooc.Incremental`` around one), or that last step alone. An
        Incremental's own settings are the search's to set: leave them at their defaults.
    param_distributions : dict or list of dicts
        The learner's parameters to search, named as ``estimator.get_params()`` names them
        (``"sgdclassifier__alpha"``; ``"incremental__estimator__alpha"`` through an
        Incremental): lists of values, or scipy.stats distributions when ``n_candidates`` is
        set. The preprocessing steps are fitted once for every candidate, so their parameters
        cannot be searched.
    n_candidates : int, default=None
        Candidates drawn with scikit-learn's ``ParameterSampler``; None takes every combination
        of the lists (``ParameterGrid``).
    factor : float, default=3
        Each rung keeps the best ``ceil(live / factor)`` candidates and gives them ``factor``
        times the rows they had learned.
    max_epochs : int, default=1
        Epochs the last candidate standing learns. The rungs end at whole blocks of the stream
        of ``max_epochs`` epochs: with few blocks per epoch the first rungs round up (read in
        smaller blocks, ``block_rows=``, to follow the schedule closely).
    min_resources : "exhaust" or int, default="exhaust"
        Rows each candidate learns in the first rung. "exhaust": ``rows / factor**K``, where
        ``rows`` is the stream's and ``K + 1`` rungs bring the candidates down to one, so the
        last rung ends with the stream. An int: rung ``k`` ends after ``min_resources *
        factor**k`` rows, and the rungs that would not end before the stream does are one last
        rung, whose best candidate wins; at least the stream's rows, there is no halving: every
        candidate learns every epoch (an exhaustive search, still one pass per epoch).
    scoring : str or callable, default=None
        The held-out score (a scikit-learn scorer name, or ``scorer(estimator, X, y)``). None:
        the learner's own score (accuracy, R^2, minus the inertia) over every held-out row.
    validation_fraction : float, default=0.1
        Held out for scoring, as ``Incremental(early_stopping=True)`` holds it out: whole
        blocks when there are enough, else that fraction of the rows of every block.
    random_state : int, RandomState instance or None, default=None
        Draws the candidates, the held-out data, the block order and row order of every epoch,
        and seeds a learner whose own ``random_state`` is None.
    shuffle_blocks, shuffle_rows : bool, default=True
        As in :class:`~outofcore.Incremental`.
    classes : array-like, default=None
        Every label of a classifier; found in one pass over y when None.
    prefetch : int, default=2
        Blocks computed ahead while the candidates learn.
    n_jobs : int, default=None
        Threads in which the candidates learn here (None or -1: one per core). On a cluster the
        workers' threads are used.
    error_score : "raise" or float, default=np.nan
        The score of a candidate whose ``partial_fit`` or score raises; it stops learning and a
        FitFailedWarning names the error. "raise" stops the search instead. When every
        candidate fails, the search raises.

    Attributes
    ----------
    best_estimator_ : Pipeline or Incremental
        The fitted preprocessing and, as the last step, an ``Incremental`` around the winner,
        continued (not refitted) to ``max_epochs``. Its parameters reproduce it:
        ``clone(best_estimator_).fit(X, y)`` learns the same model. Predicts lazily on Tables
        and dask input.
    best_params_ : dict
        The winner's parameters, named as in ``param_distributions``.
    best_score_ : float
        The winner's held-out score after ``max_epochs``.
    best_index_ : int
        The winner's row of ``cv_results_`` (its last rung).
    cv_results_ : dict of arrays
        One row per candidate per rung it took part in, as scikit-learn's
        ``HalvingRandomSearchCV`` gives them: ``iter`` (the rung), ``n_resources`` (rows each
        candidate had learned), ``params``, ``param_<name>`` (masked arrays),
        ``mean_test_score`` and ``split0_test_score`` (the held-out score), ``std_test_score``
        (0: one held-out set), ``rank_test_score`` (later rungs first, then the score; 1 is
        ``best_index_``), ``mean_fit_time`` and ``mean_score_time`` (seconds that candidate
        spent learning that rung and being scored at its end), and ``candidate`` (its index).
    n_candidates_ : list of int
        Live candidates in each rung.
    n_resources_ : list of int
        Rows each live candidate had learned at the end of each rung.
    n_iterations_ : int
        Rungs run.
    min_resources_, max_resources_ : int
        Rows of the first rung and of the whole stream.
    scorer_ : callable or None
    classes_, n_features_in_, feature_names_in_
        Those of ``best_estimator_``.

    Notes
    -----
    Every candidate learns from the same stream, in the order an ``Incremental`` with the same
    ``random_state`` draws it, so the winner equals ``Incremental(learner with best_params_,
    epochs=max_epochs, early_stopping=True, n_iter_no_change=max_epochs,
    validation_fraction=validation_fraction, random_state=seed)`` fitted on the transformed data,
    bit for bit, and ``best_estimator_[-1]`` is that Incremental (``seed`` is ``random_state``
    when it is an int, else an int drawn from it). Its ``history_`` holds the held-out score of
    every epoch: scores are taken at the end of every rung and of every epoch. Ties are settled
    by the candidate's index (its place in ``cv_results_["params"]``).

    Learning costs ``sum_k live_k * (rows_k - rows_{k-1})`` rows over the rungs, about 2.2
    fits' worth for 16 candidates and ``factor=3``; reading and preprocessing cost one fit's.

    Examples
    --------
    >>> import dask.array as da
    >>> from sklearn.linear_model import SGDClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> import outofcore as ooc
    >>> X = da.random.default_rng(0).normal(size=(4000, 3), chunks=500)
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> pipe = make_pipeline(ooc.StandardScaler(), SGDClassifier())
    >>> search = ooc.IncrementalSearchCV(
    ...     pipe, {"sgdclassifier__alpha": [1e-5, 1e-3, 1e-1], "sgdclassifier__loss":
    ...            ["hinge", "log_loss"]}, max_epochs=2, random_state=0).fit(X, y)
    >>> search.n_candidates_, search.n_resources_
    ([6, 2, 1], [1000, 2500, 7000])
    >>> search.best_params_
    {'sgdclassifier__alpha': 0.1, 'sgdclassifier__loss': 'hinge'}
    >>> search.best_estimator_[-1]
    Incremental(early_stopping=True, epochs=2, estimator=SGDClassifier(alpha=0.1),
                random_state=0)
    """

    def __init__(self, estimator, param_distributions, *, n_candidates=None, factor=3,
                 max_epochs=1, min_resources="exhaust", scoring=None, validation_fraction=0.1,
                 random_state=None, shuffle_blocks=True, shuffle_rows=True, classes=None,
                 prefetch=2, n_jobs=None, error_score=np.nan):
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.n_candidates = n_candidates
        self.factor = factor
        self.max_epochs = max_epochs
        self.min_resources = min_resources
        self.scoring = scoring
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.shuffle_blocks = shuffle_blocks
        self.shuffle_rows = shuffle_rows
        self.classes = classes
        self.prefetch = prefetch
        self.n_jobs = n_jobs
        self.error_score = error_score

    def __sklearn_tags__(self):
        return wrapper_tags(super().__sklearn_tags__(), self.estimator)

    # ---------------------------------------------------------------------------- fitting
    def fit(self, X, y=None, sample_weight=None):
        """Fit the preprocessing once, then run the rungs over the blocks of X.

        Parameters
        ----------
        X : Table, dask array or DataFrame, or in-memory array-like
        y : dask array or array-like of shape (n_samples,), default=None
        sample_weight : dask array or array-like of shape (n_samples,), default=None
            Row weights, given to every ``partial_fit`` and to the held-out score.

        Returns
        -------
        self
        """
        forget_fit(self)
        self._check_params()
        pipeline, prefix, wrapper, learner = learner_of(self.estimator)
        names = learner_keys(self.param_distributions, pipeline, prefix, wrapper, learner)
        params = halving.candidate_params(self.param_distributions, self.n_candidates,
                                          self.random_state)
        if not params:
            raise ValueError("param_distributions gives no candidate; give at least one value "
                             "per parameter.")
        seed = self.random_state if isinstance(self.random_state, (int, np.integer)) else int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self.scorer_ = None if self.scoring is None else get_scorer(self.scoring)
        with thread_guard():
            if pipeline is not None and len(pipeline) > 1:
                X = pipeline[:-1].fit_transform(X, y)
            final = Incremental(
                learner, epochs=self.max_epochs, shuffle_blocks=self.shuffle_blocks,
                shuffle_rows=self.shuffle_rows, random_state=seed, classes=self.classes,
                early_stopping=True, validation_fraction=self.validation_fraction,
                n_iter_no_change=self.max_epochs, scoring=self.scoring, prefetch=self.prefetch)
            self._search(final, X, y, sample_weight, params,
                         [{names[k]: v for k, v in p.items()} for p in params])
        final.set_params(estimator=clone(learner).set_params(
            **{names[k]: v for k, v in self.best_params_.items()}))
        if pipeline is None:
            self.best_estimator_ = final
        else:
            pipeline.steps[-1] = (pipeline.steps[-1][0], final)
            self.best_estimator_ = pipeline
        return self

    def _search(self, final, X, y, weights, candidates, learner_params):
        """The rungs. ``final`` is the Incremental the winner becomes: its start (the seed of
        the learner, the generator, the labels) is every candidate's."""
        locate = X.locate if isinstance(X, Table) else None
        X, y, weights = fit_inputs(final, X, y, weights, first_call=True)
        final._start(y, self.classes)
        check_partial_fit_params(final.estimator_,
                                 {} if weights is None else {"sample_weight": 1})
        source = block_source([X, y, weights], prefetch=self.prefetch, locate=locate)
        rng = final._rng
        # Drawn as Incremental(early_stopping=True) draws them, so the winner is its model.
        train, valid, holdout = validation.split(source.row_chunks, self.validation_fraction,
                                                 rng)
        final._held = ([int(v) for v in valid] if holdout is None else None,
                       None if holdout is None else holdout.seed)
        stream, epoch_ends = [], []
        for _ in range(self.max_epochs):
            order = rng.permutation(train) if self.shuffle_blocks else np.asarray(train)
            seeds = rng.randint(np.iinfo(np.int32).max, size=len(order))
            stream += [(int(i), int(s)) for i, s in zip(order, seeds, strict=True)
                       if source.row_chunks[i] > 0]
            epoch_ends.append(len(stream))
        rows = [int(source.row_chunks[i]) if holdout is None else
                int(holdout.train_mask(i, source.row_chunks[i]).sum()) for i, _ in stream]
        if sum(rows) == 0:
            raise ValueError("X has no rows to learn from once the held-out data is set apart.")
        shared = SharedStep(FoldStep(
            classes=getattr(final, "classes_", None), shuffle_rows=self.shuffle_rows, params={},
            names=getattr(final, "feature_names_in_", None),
            allow_nan=get_tags(final.estimator_).input_tags.allow_nan, holdout=holdout),
            catch=not (isinstance(self.error_score, str) and self.error_score == "raise"))
        learners, unshuffled = [], []
        for p in learner_params:
            model = clone(final.estimator_).set_params(**p)
            # The fold shuffles the rows itself (see steps.rows_shuffled_once).
            unshuffled.append(self.shuffle_rows and shuffles_each_call(model))
            if unshuffled[-1]:
                model.set_params(shuffle=False)
            learners.append(Learner(model))
        rungs = Rungs(self, candidates, source, shared, valid, holdout,
                      score_kind(final.estimator_, self.scorer_))
        winner, history = rungs.run(learners, stream, rows, epoch_ends)
        model = rungs.learners[winner].model
        if unshuffled[winner]:
            model.set_params(shuffle=True)
        final.estimator_ = model
        final.n_epochs_ = self.max_epochs
        final.n_blocks_seen_ = len(stream)
        final.n_samples_seen_ = int(sum(rows))
        final.history_ = history

    def _check_params(self):
        for name, value, low in [("max_epochs", self.max_epochs, 1),
                                 ("prefetch", self.prefetch, 0)]:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
        if isinstance(self.factor, bool) or not isinstance(self.factor, (int, float)) or not \
                self.factor > 1:
            raise ValueError(f"factor must be a number > 1; got {self.factor!r}.")
        if not (isinstance(self.min_resources, str) and self.min_resources == "exhaust") and (
                isinstance(self.min_resources, bool) or not isinstance(
                    self.min_resources, (int, np.integer)) or self.min_resources < 1):
            raise ValueError(f"min_resources must be 'exhaust' or a number of rows >= 1; got "
                             f"{self.min_resources!r}.")
        if self.n_candidates is not None and (
                isinstance(self.n_candidates, bool) or not isinstance(
                    self.n_candidates, (int, np.integer)) or self.n_candidates < 1):
            raise ValueError(f"n_candidates must be None or an integer >= 1; got "
                             f"{self.n_candidates!r}.")
        if self.n_jobs is not None and self.n_jobs != -1 and (
                isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, (int, np.integer))
                or self.n_jobs < 1):
            raise ValueError(f"n_jobs must be None, -1 or an integer >= 1; got {self.n_jobs!r}.")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1); got "
                             f"{self.validation_fraction!r}.")
        if isinstance(self.error_score, str) and self.error_score != "raise" or not isinstance(
                self.error_score, (str, int, float)):
            raise ValueError(f"error_score must be 'raise' or a number; got "
                             f"{self.error_score!r}.")

    # ------------------------------------------------------------------------ predicting
    @available_if(inner_has("predict", "best_estimator_"))
    def predict(self, X):
        """``best_estimator_.predict``: lazy (a dask array) on Tables and dask input."""
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    @available_if(inner_has("predict_proba", "best_estimator_"))
    def predict_proba(self, X):
        """``best_estimator_.predict_proba``; lazy on Tables and dask input."""
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)

    @available_if(inner_has("predict_log_proba", "best_estimator_"))
    def predict_log_proba(self, X):
        """``best_estimator_.predict_log_proba``; lazy on Tables and dask input."""
        check_is_fitted(self)
        return self.best_estimator_.predict_log_proba(X)

    @available_if(inner_has("decision_function", "best_estimator_"))
    def decision_function(self, X):
        """``best_estimator_.decision_function``; lazy on Tables and dask input."""
        check_is_fitted(self)
        return self.best_estimator_.decision_function(X)

    @available_if(inner_has("transform", "best_estimator_"))
    def transform(self, X):
        """``best_estimator_.transform``; lazy on Tables and dask input."""
        check_is_fitted(self)
        return self.best_estimator_.transform(X)

    @available_if(inner_has("score", "best_estimator_"))
    def score(self, X, y=None):
        """``best_estimator_.score`` (accuracy, R^2, ...) over every row of X, in one pass; the
        estimator's own score whatever ``scoring`` chose the winner with."""
        check_is_fitted(self)
        return self.best_estimator_.score(X, y)

    @property
    def classes_(self):
        check_is_fitted(self)
        return self.best_estimator_.classes_

    @property
    def n_features_in_(self):
        check_is_fitted(self)
        return self.best_estimator_.n_features_in_

    @property
    def feature_names_in_(self):
        check_is_fitted(self)
        return self.best_estimator_.feature_names_in_
