"""``Incremental``: fit any estimator with ``partial_fit`` block by block over data larger than memory.

Its lazy predictions and scores on dask input are built by :mod:`outofcore._lazy`.
"""

import time
import warnings
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import get_scorer
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._arrays import align_to, as_dask_array, distinct_labels, feature_names, is_dask_collection
from ._fold import FoldStep, check_partial_fit_kwargs, rows_shuffled_once, weighted_score
from ._distributed import DistributedBlocks, active_client, guard_workers
from ._lazy import dask_model_score, estimator_has, lazy_method
from .blocks import BlockStream
from .cache import quarter_of_available_memory
from .checkpoint import checkpointer_for, restore_fold, save_fold
from .progress import RowProgress
from .threads import thread_guard


class Incremental(MetaEstimatorMixin, BaseEstimator):
    """Train an estimator with ``partial_fit`` one block at a time, for data larger than memory.

    ``fit`` clones ``estimator`` into ``estimator_`` and folds ``partial_fit`` over the row blocks of
    X (a dask array or DataFrame; numpy and pandas are one block), ``epochs`` passes. Each epoch visits
    the blocks in a new random order and shuffles the rows inside each block, both drawn from
    ``random_state``, so equal ``random_state`` gives identical models. Only ``prefetch + 1`` blocks
    are in memory at a time. Prediction methods are lazy on dask input.

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        SGDClassifier/Regressor, Perceptron, PassiveAggressive*, MiniBatchKMeans, MLPClassifier/
        Regressor, MultinomialNB, IncrementalPCA, or any estimator implementing ``partial_fit``.
    epochs : int, default=1
        Passes over the training blocks.
    shuffle_blocks : bool, default=True
        Visit the blocks in a new random order each epoch.
    shuffle_rows : bool, default=True
        Shuffle the rows inside each block each epoch (the stream of one part of a time-ordered data
        set is rarely i.i.d.; shuffling brings partial_fit close to an in-memory fit). The rows are
        permuted once, in the thread that produces the block: an estimator that would shuffle them
        again inside ``partial_fit`` (``shuffle=True`` of SGD*, Perceptron, PassiveAggressive*,
        MLP*) runs with ``shuffle=False`` during the fit and gets ``shuffle=True`` back after it.
        Its step is then up to 3x faster, and the rows still reach it in a uniformly random order.
        False leaves the rows in order and the estimator's own shuffle as it is.
    random_state : int, RandomState instance or None, default=None
        Seeds block order, row order and the choice of validation blocks.
    classes : array-like, default=None
        Every label of a classifier. When None, labels are found in one parallel pass over y.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the blocks, score after each epoch, and stop after
        ``n_iter_no_change`` epochs that do not improve the best score by ``tol``.
    validation_fraction : float, default=0.1
        Fraction of blocks held out for early stopping (at least one block).
    n_iter_no_change : int, default=2
        Epochs without improvement before stopping.
    tol : float, default=1e-4
        Improvement of the validation score that counts.
    scoring : str or callable, default=None
        Validation score (sklearn scorer name or ``scorer(estimator, X, y)``); the estimator's own
        ``score`` when None. The score of several blocks is their row-weighted mean.
    prefetch : int, default=2
        Blocks computed ahead, in parallel, while ``partial_fit`` runs on the current one. Two
        keep the learner fed when reading a block takes longer than learning from it (5M x 20
        float64 parquet in 500k-row blocks: epochs of 2.2 s against 2.7 s with one).
    cache : "auto", int or False, default="auto"
        Keep the blocks of the first pass in memory for the later ones (epochs, validation), so
        they are read, decoded and scaled once. "auto" caches when the fit passes over the blocks
        more than once (``epochs > 1`` or early stopping), up to a quarter of the memory available
        when ``fit`` starts; an int is a budget in bytes; False keeps memory bounded by
        ``prefetch + 1`` blocks. Blocks beyond the budget are computed each time. Local
        schedulers only: on a cluster the blocks stay on the workers.
    verbose : bool or "auto", default=False
        Show a progress bar (rows/s, ETA) on stderr; "auto" shows it only on a terminal.
    callback : callable, default=None
        Called after every block with a dict: ``rows`` (seen in this fit), ``total``, ``seconds``,
        ``epoch`` and ``block``. Use it to log or draw progress.
    checkpoint : str or path-like, default=None
        A file where ``fit`` records the model and its position (epoch, block, random state,
        history) every ``checkpoint_every``. When the file exists, ``fit`` resumes from it and
        gives the model an uninterrupted fit would have; it is deleted when the fit completes.
        Written atomically with skops; loading accepts only scikit-learn, NumPy and outofcore types
        and the estimator's own classes. ``partial_fit`` does not use it.
    checkpoint_every : int or str, default="60s"
        Blocks between checkpoints (an int), or a duration (``"30s"``, ``"10m"``). A checkpoint is
        also written at the end of every epoch.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator``.
    classes_ : ndarray
        Class labels (classifiers).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When X had string column names (DataFrames, or arrays from ``read_parquet``/``read_csv``).
    n_epochs_ : int
        Epochs run (fewer than ``epochs`` when early stopping fired).
    n_blocks_seen_ : int
    n_samples_seen_ : int
        Rows passed to ``partial_fit``, over every epoch.
    history_ : list of dict
        One entry per epoch: ``epoch``, ``rows`` (cumulative), ``seconds``, ``score`` (validation
        score or None) and ``loss`` (the estimator's ``loss_`` where it has one).

    Notes
    -----
    On a cluster: with a ``distributed`` Client active (created in this process, or set with
    ``dask.config.set(scheduler=client)`` or ``with client.as_current()``), the blocks are computed
    on the workers and each ``partial_fit`` is submitted to the worker that holds its block; the
    model travels to the block and back, the data stays on the workers. The block order and row
    seeds are drawn in the client as they are locally, so the model equals the local scheduler's
    for the same ``random_state``. A worker lost in the middle of a fit costs a recomputation of
    its blocks, not the fit. Worker BLAS pools are limited with
    :func:`outofcore.threads.guard_workers`.

    Examples
    --------
    >>> import dask.array as da
    >>> from sklearn.linear_model import SGDClassifier
    >>> from outofcore import Incremental
    >>> X = da.random.default_rng(0).normal(size=(1000, 3), chunks=250)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> model = Incremental(SGDClassifier(random_state=0), epochs=2, random_state=0).fit(X, y)
    >>> model.n_epochs_, model.classes_.tolist()
    (2, [0, 1])
    """

    def __init__(
        self,
        estimator,
        *,
        epochs=1,
        shuffle_blocks=True,
        shuffle_rows=True,
        random_state=None,
        classes=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=2,
        tol=1e-4,
        scoring=None,
        prefetch=2,
        cache="auto",
        verbose=False,
        callback=None,
        checkpoint=None,
        checkpoint_every="60s",
    ):
        self.estimator = estimator
        self.epochs = epochs
        self.shuffle_blocks = shuffle_blocks
        self.shuffle_rows = shuffle_rows
        self.random_state = random_state
        self.classes = classes
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.scoring = scoring
        self.prefetch = prefetch
        self.cache = cache
        self.verbose = verbose
        self.callback = callback
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.transformer_tags = inner.transformer_tags
        tags.target_tags = inner.target_tags
        tags.input_tags = inner.input_tags
        # Blocks are dense numpy arrays, checked for NaN/inf before each partial_fit.
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        if tags.classifier_tags is not None:
            tags.classifier_tags.multi_label = False
        return tags

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, sample_weight=None, **fit_params):
        """Fit a fresh clone of ``estimator`` over the blocks of X, ``epochs`` passes.

        With a ``distributed`` Client active, each ``partial_fit`` runs on the worker that holds its
        block. With ``checkpoint`` set, resumes from the checkpoint when it exists.

        Parameters
        ----------
        X : dask array or DataFrame, numpy array or pandas DataFrame of shape (n_samples, n_features)
        y : dask array or Series, array-like of shape (n_samples,), default=None
        sample_weight : array-like of shape (n_samples,), default=None
            Chunked like X and passed to ``partial_fit`` block by block.
        **fit_params
            Passed to every ``partial_fit`` call.

        Returns
        -------
        self
        """
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("_")]:
            delattr(self, attr)
        with thread_guard():
            return self._fold(X, y, sample_weight, fit_params, epochs=self.epochs,
                              resumable=self.checkpoint is not None)

    def partial_fit(self, X, y=None, sample_weight=None, **fit_params):
        """Continue training with one pass over the blocks of X (a fresh clone on the first call)."""
        with thread_guard():
            return self._fold(X, y, sample_weight, fit_params, epochs=1, resumable=False)

    def _fold(self, X, y, sample_weight, fit_params, *, epochs, resumable):
        first_call = not hasattr(self, "estimator_")
        self._validate_params_here(epochs)
        if not hasattr(self.estimator, "partial_fit"):
            raise TypeError(
                f"{type(self.estimator).__name__} has no partial_fit, so it cannot learn block by "
                f"block. Use an estimator with partial_fit (SGDClassifier, SGDRegressor, "
                f"MiniBatchKMeans, MLPClassifier, MultinomialNB, IncrementalPCA, ...)."
            )
        X, y, sample_weight = self._prepare(X, y, sample_weight, first_call=first_call)
        classifier = is_classifier(self.estimator)
        if y is None and get_tags(self.estimator).target_tags.required:
            raise ValueError(
                f"{type(self).__name__}({type(self.estimator).__name__}) requires y to be passed, "
                f"but the target y is None."
            )
        if classifier and y.ndim != 1:
            raise ValueError(
                f"y has shape {y.shape}; Incremental classifiers take one label per row (1-D y). "
                f"Multi-label and multi-output targets are not supported."
            )
        stream = BlockStream([X, y, sample_weight], prefetch=self.prefetch,
                             cache_bytes=self._cache_budget(epochs))
        saver = checkpointer_for(self, stream, epochs) if resumable else None
        saved = None if saver is None else saver.load()
        if first_call:
            self.estimator_ = clone(self.estimator)
            self.n_epochs_ = 0
            self.n_blocks_seen_ = 0
            self.n_samples_seen_ = 0
            self.history_ = []
            if classifier:
                self.classes_ = (saved[0]["classes_"] if saved is not None
                                 else self._find_classes(y))
        check_partial_fit_kwargs(self.estimator_, sample_weight is not None, fit_params)
        rng = check_random_state(self.random_state) if first_call else self._rng
        self._rng = rng
        position = restore_fold(self, saved, rng) if saved is not None else {}
        train, valid = self._split_blocks(stream, rng)
        step = FoldStep(
            classes=self.classes_ if classifier else None,
            shuffle_rows=self.shuffle_rows,
            fit_params=fit_params,
            check_labels=self.classes is not None,
            names=getattr(self, "feature_names_in_", None),
        )
        client = active_client()
        if client is not None:
            guard_workers(client)
            blocks = DistributedBlocks(client, stream, prefetch=self.prefetch)
        else:
            blocks = stream
        rows_per_epoch = int(sum(stream.row_chunks[i] for i in train))
        with RowProgress(rows_per_epoch * (epochs - self.n_epochs_ if resumable else epochs),
                         f"fit {type(self.estimator).__name__}", verbose=self.verbose,
                         callback=self.callback) as progress, \
                rows_shuffled_once(self, self.shuffle_rows):
            self._epochs(blocks, train, valid, step, rng, epochs, progress, saver, position)
        if saver is not None:
            saver.remove()
        return self

    def _epochs(self, blocks, train, valid, step, rng, epochs, progress, saver, position):
        """Run the epochs; ``position`` (from a checkpoint) says where the current epoch stopped."""
        best, stale = position.get("best", -np.inf), position.get("stale", 0)
        done_in_epoch = position.get("block", 0)
        remaining = epochs - self.n_epochs_ if saver is not None else epochs
        for _ in range(remaining):
            start = time.perf_counter() - position.get("seconds", 0.0)
            epoch_state = rng.get_state()
            order = rng.permutation(train) if self.shuffle_blocks else np.asarray(train)
            seeds = rng.randint(np.iinfo(np.int32).max, size=len(order))
            # Empty blocks are dropped after the draws, so the draws match any chunking's.
            todo = [(int(i), s) for i, s in zip(order, seeds) if blocks.row_chunks[i] > 0]
            todo = todo[done_in_epoch:]
            steps = blocks.fold(self.estimator_, [i for i, _ in todo], [s for _, s in todo], step)
            for done, (index, estimator) in enumerate(steps, start=done_in_epoch + 1):
                self.estimator_ = estimator
                rows = blocks.row_chunks[index]
                self.n_blocks_seen_ += 1
                self.n_samples_seen_ += rows
                if saver is not None and saver.due():
                    save_fold(self, saver, epoch_state, done, best, stale,
                              time.perf_counter() - start)
                progress.update(rows, epoch=self.n_epochs_ + 1, block=index)
            done_in_epoch = 0
            position = {}
            self.n_epochs_ += 1
            score = self._validation_score(blocks, valid) if valid else None
            self.history_.append(
                {
                    "epoch": self.n_epochs_,
                    "rows": self.n_samples_seen_,
                    "seconds": time.perf_counter() - start,
                    "score": score,
                    "loss": _as_float(getattr(self.estimator_, "loss_", None)),
                }
            )
            if score is not None:
                if score > best + self.tol:
                    best, stale = score, 0
                else:
                    stale += 1
                if stale >= self.n_iter_no_change:
                    break
            if saver is not None and self.n_epochs_ < epochs:
                save_fold(self, saver, rng.get_state(), 0, best, stale, 0.0)

    def _cache_budget(self, epochs):
        """Bytes of blocks to keep in memory between passes (see ``cache``)."""
        cache = self.cache
        if cache is False or cache is None:
            return 0
        if isinstance(cache, str) and cache == "auto":
            if epochs == 1 and not self.early_stopping:
                return 0  # one pass: a cache would only hold memory
            return quarter_of_available_memory()
        if isinstance(cache, (int, np.integer)) and not isinstance(cache, bool) and cache >= 0:
            return int(cache)
        raise ValueError(
            f"cache must be 'auto', False or a number of bytes >= 0; got {cache!r}."
        )

    def _validate_params_here(self, epochs):
        for name, value, low in [("epochs", epochs, 1), ("prefetch", self.prefetch, 0),
                                 ("n_iter_no_change", self.n_iter_no_change, 1)]:
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1); got {self.validation_fraction!r}."
            )

    def _prepare(self, X, y, sample_weight, *, first_call):
        """Validate X (features, names) and return X, y, sample_weight as row-aligned dask arrays."""
        if is_dask_collection(X):
            names = feature_names(X)
            X = as_dask_array(X)
            if X.ndim != 2:
                raise ValueError(f"X must be 2-D (rows, features); got shape {X.shape}.")
            self._check_features(X.shape[1], names, reset=first_call)
        else:
            X = validate_data(self, X, reset=first_call, dtype=None, ensure_all_finite=False)
        if y is not None:
            y = align_to(X, y, name="y")
            if y.ndim == 2 and y.shape[1] == 1 and not get_tags(self.estimator).target_tags.multi_output:
                warnings.warn(
                    "A column-vector y was passed when a 1d array was expected. Please change the "
                    "shape of y to (n_samples,), for example using ravel().",
                    DataConversionWarning,
                    stacklevel=3,
                )
                y = y[:, 0]
        if sample_weight is not None:
            sample_weight = align_to(X, sample_weight, name="sample_weight")
        return X, y, sample_weight

    def _check_features(self, n_features, names, *, reset):
        if reset:
            self.n_features_in_ = n_features
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return
        if n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        expected = getattr(self, "feature_names_in_", None)
        if expected is not None and names is not None and list(names) != list(expected):
            raise ValueError(
                f"X has columns {list(names)} but the model was fitted on {list(expected)}; "
                f"select the same columns in the same order."
            )

    def _find_classes(self, y):
        if self.classes is not None:
            return np.unique(np.asarray(self.classes, dtype=y.dtype))
        if isinstance(y, np.ndarray):
            return np.unique(y)
        return distinct_labels(y)

    def _split_blocks(self, stream, rng):
        """Training and validation block indices; validation only with early stopping."""
        blocks = np.flatnonzero(np.asarray(stream.row_chunks) > 0)
        if not self.early_stopping:
            return np.arange(stream.n_blocks), []
        if hasattr(self, "_valid_blocks"):
            valid = self._valid_blocks
        else:
            if len(blocks) < 2:
                raise ValueError(
                    f"early_stopping holds out whole blocks, but X has {len(blocks)} non-empty "
                    f"block(s). Use smaller blocks (e.g. X.rechunk({{0: 100_000}}) or block_rows= in "
                    f"read_parquet) or early_stopping=False."
                )
            n_valid = min(len(blocks) - 1, max(1, round(self.validation_fraction * len(blocks))))
            valid = np.sort(rng.choice(blocks, size=n_valid, replace=False))
            self._valid_blocks = valid
        return np.setdiff1d(np.arange(stream.n_blocks), valid), list(valid)

    def _validation_score(self, blocks, valid):
        scorer = None if self.scoring is None else get_scorer(self.scoring)
        score = partial(weighted_score, self.estimator_, scorer)
        totals = np.array(blocks.map_blocks(score, valid)).reshape(-1, 2)
        return float(totals[:, 0].sum() / totals[:, 1].sum())

    # --------------------------------------------------------------- predicting
    def _lazy(self, method, X):
        check_is_fitted(self)
        if not is_dask_collection(X):
            # estimator_ learned from numpy blocks: give it numpy, checked against our features.
            X = validate_data(self, X, reset=False, dtype=None, ensure_all_finite=False)
            return getattr(self.estimator_, method)(X)
        names = feature_names(X)
        X = as_dask_array(X)
        self._check_features(X.shape[1], names, reset=False)
        return lazy_method(self.estimator_, method, X)

    @available_if(estimator_has("predict"))
    def predict(self, X):
        """Predict with ``estimator_``: lazy (a dask array) on dask input, eager otherwise."""
        return self._lazy("predict", X)

    @available_if(estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities, one column per ``classes_``; lazy on dask input."""
        return self._lazy("predict_proba", X)

    @available_if(estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities; lazy on dask input."""
        return self._lazy("predict_log_proba", X)

    @available_if(estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of ``estimator_``; lazy on dask input."""
        return self._lazy("decision_function", X)

    @available_if(estimator_has("transform"))
    def transform(self, X):
        """Transform with ``estimator_``; lazy on dask input."""
        return self._lazy("transform", X)

    @available_if(estimator_has("transform"))
    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then transform X (lazily on dask input)."""
        return self.fit(X, y, **fit_params).transform(X)

    @available_if(estimator_has("get_feature_names_out"))
    def get_feature_names_out(self, input_features=None):
        """Output feature names of ``estimator_``."""
        check_is_fitted(self)
        return self.estimator_.get_feature_names_out(input_features)

    @available_if(estimator_has("score"))
    def score(self, X, y=None, sample_weight=None):
        """Score on X: accuracy for classifiers and R^2 for regressors over every row; otherwise the
        estimator's ``score`` summed over blocks (clusterers) or averaged by rows.

        Computed in one parallel pass on dask input; eager ``estimator_.score`` otherwise.
        """
        check_is_fitted(self)
        if not is_dask_collection(X):
            X = validate_data(self, X, reset=False, dtype=None, ensure_all_finite=False)
            kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
            return self.estimator_.score(X, y, **kwargs)
        return dask_model_score(self, X, y, sample_weight)


def _as_float(value):
    return None if value is None else float(value)
