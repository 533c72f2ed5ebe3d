"""``Incremental``: fit any estimator with ``partial_fit`` block by block over data larger than memory.

``fit`` is a reset followed by a seeded fold: for each epoch, draw the block order and one row
seed per block from ``random_state``, then apply one small step (:class:`~outofcore.training.
steps.FoldStep`: check, shuffle, ``partial_fit``) to each block in that order. Blocks come from
a source (:mod:`outofcore.training.sources`) that computes them ahead locally or runs each step
on the cluster worker that holds its block; progress bars, checkpoints and fit reports are
callbacks (:mod:`outofcore.training.callbacks`).
"""

import time

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.metrics import get_scorer
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing

from outofcore.io.table import Table
from outofcore.preprocessing.base import forget_fit
from outofcore.runtime.progress import wants_bar
from outofcore.runtime.threads import thread_guard
from outofcore.training import validation
from outofcore.training.callbacks import Calls, ProgressBar, as_callbacks
from outofcore.training.checkpoint import Position, checkpoint_for
from outofcore.training.delegate import Delegates, wrapper_tags
from outofcore.training.inputs import find_classes, fit_inputs, learns_from_sparse
from outofcore.training.merge import merge_family
from outofcore.training.replicas import Rounds
from outofcore.training.sources import block_source
from outofcore.training.steps import (
    FoldStep,
    check_partial_fit_params,
    rows_shuffled_once,
    shuffles_each_call,
)


# What a fit keeps besides the learned attributes: the generator, the fold's position, the data
# held out for early stopping.
_SCRATCH = ("_rng", "_position", "_held", "_rounds")


class Incremental(Delegates, MetaEstimatorMixin, BaseEstimator):
    """Train an estimator with ``partial_fit`` one block at a time, for data larger than memory.

    ``fit`` clones ``estimator`` into ``estimator_`` and folds ``partial_fit`` over the row
    blocks of X, ``epochs`` passes. Each epoch visits the blocks in a new random order and
    shuffles the rows inside each block, both drawn from ``random_state``, so equal
    ``random_state`` gives identical models. Only ``prefetch + 1`` blocks are in memory at a time.
    Prediction methods are lazy on dask input. The fitted estimator's attributes (``coef_``,
    ``cluster_centers_``, ...) can be read on the wrapper.

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        SGDClassifier/Regressor, Perceptron, PassiveAggressive*, MiniBatchKMeans, MLPClassifier/
        Regressor, MultinomialNB, BernoulliNB, IncrementalPCA, or any estimator implementing
        ``partial_fit``.
    epochs : int, default=1
        Passes over the training blocks.
    shuffle_blocks : bool, default=True
        Visit the blocks in a new random order each epoch.
    shuffle_rows : bool, default=True
        Shuffle the rows inside each block each epoch (one part of a time-ordered data set is
        rarely i.i.d.; shuffling brings partial_fit close to an in-memory fit). The rows are
        permuted once, in the thread that produces the block: an estimator that would shuffle
        them again inside ``partial_fit`` (``shuffle=True`` of SGD*, Perceptron,
        PassiveAggressive*, MLP*) runs with ``shuffle=False`` during the fit and gets
        ``shuffle=True`` back after it; the rows still reach it in a uniformly random order.
        Sparse blocks are the exception: such an estimator shuffles them itself, by index,
        which costs less than a shuffled copy of a wide block. False leaves the rows in order
        and the estimator's own shuffle as it is.
    random_state : int, RandomState instance or None, default=None
        Seeds the block order, the row order, the held-out data of early stopping and, when
        the wrapped estimator has a ``random_state`` parameter left at None, the estimator
        itself: it gets the first number drawn from this generator. An estimator's own
        ``random_state`` is left as it is.
    classes : array-like, default=None
        Every label of a classifier (``classes=`` passed to ``fit`` takes precedence). Labels
        in y outside them are an error naming their row. When None, they are found in one
        pass over y (a parquet target is read alone for it).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, score after each epoch, and stop after
        ``n_iter_no_change`` epochs that do not improve the best score by ``tol``. Whole blocks
        are held out when there are enough of them (``round(validation_fraction * blocks) >= 1``),
        else that fraction of the rows of every block (in-memory input is one block).
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=2
    tol : float, default=1e-4
    scoring : str or callable, default=None
        Validation score (a scikit-learn scorer name, or ``scorer(estimator, X, y)``), checked
        before the first block is read. None: the estimator's own score (accuracy, R^2, minus
        the inertia) over every held-out row; a scorer gives the row-weighted mean of its
        block scores.
    prefetch : int, default=2
        Blocks computed ahead, in parallel, while ``partial_fit`` runs on the current one.
    n_replicas : int, default=1
        Data-parallel learning: this many replicas of the estimator learn side by side (threads
        here, the workers' steps on a cluster), each from its share of every epoch's blocks
        (replica ``k`` takes blocks ``k, k + K, ...`` of the epoch's order), and are merged in
        replica order every ``merge_every`` blocks each and at the end of the epoch. Naive
        Bayes and IncrementalPCA merge exactly (their statistics add up); SGD*, Perceptron,
        PassiveAggressive* and MLP* average their parameters weighted by rows (Zinkevich et al.
        2010), which is close to but not the sequential model; MiniBatchKMeans averages its
        centres per centre (give it an array ``init`` and ``reassignment_ratio=0``). 1, the
        default, is the sequential fold, equal to a plain ``partial_fit`` loop. See
        :mod:`outofcore.training.merge` and the README for when each pays.
    merge_every : int or None, default=1
        Blocks each replica learns between merges; None merges at the end of each epoch only.
    verbose : bool or "auto", default=False
        A progress bar (rows/s, time left) on stderr; "auto" shows it only on a terminal.
    callback : callable, Callback or list of them, default=None
        Told about the fit as it runs (see :class:`outofcore.training.callbacks.Callback`); a
        plain function is called after every block with a dict (``rows``, ``total``,
        ``seconds``, ``epoch``, ``block``, ``wait_seconds``, ``learn_seconds``, ...).
    checkpoint : str or path-like, default=None
        A file where ``fit`` records the model and its position every ``checkpoint_every`` and
        at the end of every epoch. When the file exists, ``fit`` resumes from it and gives the
        model an uninterrupted fit would have; it is deleted when the fit completes. Loading
        accepts only scikit-learn, NumPy and the estimator's own types. ``partial_fit`` does
        not use it.
    checkpoint_every : int or str, default="60s"
        Blocks between checkpoints (an int), or a duration (``"30s"``, ``"10m"``).

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator``.
    classes_ : ndarray
        Class labels (classifiers).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When X had string column names (DataFrames, or Tables from the readers).
    n_epochs_ : int
        Epochs run (fewer than ``epochs`` when early stopping fired).
    n_blocks_seen_ : int
    n_samples_seen_ : int
        Rows passed to ``partial_fit``, over every epoch.
    history_ : list of dict
        One entry per epoch: ``epoch``, ``rows`` (cumulative), ``seconds``, ``score``
        (validation score or None), ``loss`` (the estimator's ``loss_`` where it has one),
        ``wait_seconds`` and ``learn_seconds``.

    Notes
    -----
    On a cluster (a ``distributed`` Client active in this process, or set with
    ``dask.config.set(scheduler=client)`` or ``with client.as_current()``) each ``partial_fit``
    runs on the worker that holds its block; the model travels, the data stays. Block order and
    row seeds are drawn in the client, so the model equals the local scheduler's for the same
    ``random_state``, and a worker lost mid-fit costs a recomputation, not the fit.

    Examples
    --------
    >>> import dask.array as da
    >>> from sklearn.linear_model import SGDClassifier
    >>> from outofcore import Incremental
    >>> X = da.random.default_rng(0).normal(size=(1000, 3), chunks=250)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> model = Incremental(SGDClassifier(), epochs=2, random_state=0).fit(X, y)
    >>> model.n_epochs_, model.classes_.tolist(), model.coef_.shape
    (2, [0, 1], (1, 3))
    """

    def __init__(self, estimator, *, epochs=1, shuffle_blocks=True, shuffle_rows=True,
                 random_state=None, classes=None, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=2, tol=1e-4, scoring=None, prefetch=2, n_replicas=1,
                 merge_every=1, verbose=False, callback=None, checkpoint=None,
                 checkpoint_every="60s"):
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
        self.n_replicas = n_replicas
        self.merge_every = merge_every
        self.verbose = verbose
        self.callback = callback
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every

    def __getattr__(self, name):
        # Fitted attributes of the wrapped estimator, read-only (dask-ml's wrappers do the same).
        inner = self.__dict__.get("estimator_")
        if inner is not None and name.endswith("_") and not name.startswith("_"):
            return getattr(inner, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __sklearn_tags__(self):
        tags = wrapper_tags(super().__sklearn_tags__(), self.estimator)
        tags.transformer_tags = get_tags(self.estimator).transformer_tags
        tags.input_tags.sparse = learns_from_sparse(self.estimator)
        if tags.classifier_tags is not None:
            tags.classifier_tags.multi_label = False
        return tags

    def get_metadata_routing(self):
        """Route ``fit``/``partial_fit`` metadata to the wrapped estimator's ``partial_fit``."""
        mapping = MethodMapping().add(caller="fit", callee="partial_fit").add(
            caller="partial_fit", callee="partial_fit")
        return MetadataRouter(owner=self).add(estimator=self.estimator, method_mapping=mapping)

    # ---------------------------------------------------------------------------- fitting
    def fit(self, X, y=None, **fit_params):
        """Fit a fresh clone of ``estimator`` over the blocks of X, ``epochs`` passes.

        Gives exactly what ``clone(self).fit(X, y)`` gives: everything learned before is
        forgotten. With ``checkpoint`` set, resumes from the checkpoint when it exists.

        Parameters
        ----------
        X : Table, dask array or DataFrame, NumPy array, sparse matrix or pandas DataFrame
        y : dask array or Series, or array-like of shape (n_samples,), default=None
        **fit_params
            Passed to every ``partial_fit`` call: ``sample_weight`` (row-aligned with X, cut
            into its blocks), ``classes`` (takes precedence over the ``classes`` parameter).
            Metadata routing, when enabled, routes what ``partial_fit`` requests.

        Returns
        -------
        self
        """
        forget_fit(self, _SCRATCH)
        with thread_guard():
            return self._fit(X, y, fit_params, "fit", epochs=self.epochs,
                             resume=self.checkpoint is not None)

    def partial_fit(self, X, y=None, **fit_params):
        """Continue training with one pass over the blocks of X (a fresh clone on the first call)."""
        with thread_guard():
            return self._fit(X, y, fit_params, "partial_fit", epochs=1, resume=False)

    def _fit(self, X, y, fit_params, caller, *, epochs, resume):
        first_call = "estimator_" not in self.__dict__
        self._check_params(epochs)
        scorer = None if self.scoring is None else get_scorer(self.scoring)
        params = self._routed(fit_params, caller)
        weights, classes = params.pop("sample_weight", None), params.pop("classes", None)
        locate = X.locate if isinstance(X, Table) else None
        X, y, weights = fit_inputs(self, X, y, weights, first_call)
        if first_call:
            self._start(y, classes)
        check_partial_fit_params(self.estimator_, {**params, **(
            {"sample_weight": 1} if weights is not None else {})})
        source = block_source([X, y, weights], prefetch=self.prefetch, locate=locate)
        self._position = Position()
        callbacks = ([ProgressBar(f"fit {type(self.estimator).__name__}")]
                     if wants_bar(self.verbose) else []) + as_callbacks(self.callback)
        if resume:
            saver = checkpoint_for(self, source.row_chunks, epochs)
            saver.restore(self)  # when there is a checkpoint: the model and self._position
            callbacks.insert(0, saver)  # saved before a callback can interrupt the fit
        train, valid, holdout = validation.held_out(self, source, self._position)
        # Sparse blocks are shuffled by an estimator that shuffles the rows it is given (by index,
        # no copy): the fold's shuffled copy of a wide sparse block costs more than it saves.
        own = self.shuffle_rows and _sparse(X) and shuffles_each_call(self.estimator)
        step = FoldStep(
            classes=getattr(self, "classes_", None),
            shuffle_rows=self.shuffle_rows and not own,
            params=params,
            names=getattr(self, "feature_names_in_", None),
            allow_nan=get_tags(self.estimator_).input_tags.allow_nan,
            holdout=holdout,
        )
        self._rounds = None
        if self.n_replicas > 1:
            self._rounds = Rounds(source, step, self.n_replicas, self.merge_every,
                                  carried=None if self._position.carried is None
                                  else np.asarray(self._position.carried))
        remaining = epochs - self.n_epochs_ if resume else epochs
        rows = int(sum(source.row_chunks[i] for i in train))
        calls = Calls(callbacks, total=rows * max(remaining, 0))
        calls("on_fit_begin", self, {"total": calls.total, "epochs": remaining})
        error = None
        try:
            with rows_shuffled_once(self, self.shuffle_rows and not own):
                self._epochs(source, train, valid, holdout, step, scorer, remaining, calls,
                             last_epoch=self.n_epochs_ + remaining)
        except BaseException as e:
            error = e
            raise
        finally:
            # The replicas' rounds hold the block source (on a cluster, its client): a fitted
            # model must pickle, to be sent to workers or saved.
            self._rounds = None
            calls("on_fit_end", self, {**calls.totals(), "error": error})
        del self._position
        return self

    def _epochs(self, source, train, valid, holdout, step, scorer, remaining, calls, last_epoch):
        """Run the epochs from ``self._position`` on; stop early when validation stalls."""
        position, rng = self._position, self._rng
        for _ in range(remaining):
            start = time.perf_counter() - position.seconds
            if position.epoch_rng_state is None:
                position.epoch_rng_state = rng.get_state()
            else:
                rng.set_state(position.epoch_rng_state)
            order = rng.permutation(train) if self.shuffle_blocks else np.asarray(train)
            seeds = rng.randint(np.iinfo(np.int32).max, size=len(order))
            # Empty blocks are dropped after the draws, so the draws match any chunking's.
            todo = [(int(i), int(s)) for i, s in zip(order, seeds) if source.row_chunks[i] > 0]
            waited = learned = 0.0
            for estimator, blocks in self._steps(source, todo[position.block:], step):
                self.estimator_ = estimator
                # Counted before any callback runs: a checkpoint saves the model with them.
                rows = []
                for index, *_ in blocks:
                    n = int(source.row_chunks[index])
                    rows.append(n if holdout is None else int(holdout.train_mask(index, n).sum()))
                self.n_blocks_seen_ += len(blocks)
                self.n_samples_seen_ += sum(rows)
                position.block += len(blocks)
                position.seconds = time.perf_counter() - start
                if self._rounds is not None and self._rounds.carried is not None:
                    position.carried = list(self._rounds.carried)
                for (index, _, wait, learn), n in zip(blocks, rows, strict=True):
                    waited, learned = waited + wait, learned + learn
                    calls.block(self, {"epoch": self.n_epochs_ + 1, "block": index,
                                       "block_rows": n, "wait_seconds": wait,
                                       "learn_seconds": learn})
            self.n_epochs_ += 1
            score = None
            if len(valid):
                score = validation.validation_score(source, valid, self.estimator_, scorer,
                                                    holdout)
            entry = {"epoch": self.n_epochs_, "rows": self.n_samples_seen_,
                     "seconds": time.perf_counter() - start, "score": score,
                     "loss": _as_float(getattr(self.estimator_, "loss_", None)),
                     "wait_seconds": waited, "learn_seconds": learned}
            self.history_.append(entry)
            stop = False
            if score is not None:
                if score > position.best + self.tol:
                    position.best, position.stale = score, 0
                else:
                    position.stale += 1
                stop = position.stale >= self.n_iter_no_change
            position.block, position.seconds = 0, 0.0
            position.epoch_rng_state = rng.get_state()
            last = stop or self.n_epochs_ >= last_epoch
            calls("on_epoch_end", self, {**entry, "last": last})
            if stop:
                break

    def _steps(self, source, todo, step):
        """Yield ``(model, [(index, rows, waited, learned)])``: after each block of the
        sequential fold, or after each round of replicas (the merged model)."""
        if self._rounds is not None:
            yield from self._rounds.epoch(self.estimator_, todo)
            return
        for index, estimator, wait, learn in source.fold(self.estimator_, todo, step):
            yield estimator, [(index, None, wait, learn)]

    def _start(self, y, classes):
        """First call: a fresh clone, empty counters, the generator, the labels."""
        rng = check_random_state(self.random_state)
        # Drawn first whatever the estimator, so the fold's draws that follow never depend on it.
        inner_seed = int(rng.randint(np.iinfo(np.int32).max))
        self.estimator_ = clone(self.estimator)
        if (self.random_state is not None and "random_state" in self.estimator_.get_params()
                and self.estimator_.get_params()["random_state"] is None):
            self.estimator_.set_params(random_state=inner_seed)
        self._rng = rng
        self.n_epochs_ = self.n_blocks_seen_ = self.n_samples_seen_ = 0
        self.history_ = []
        if is_classifier(self.estimator):
            self.classes_ = find_classes(y, self.classes if classes is None else classes)

    def _routed(self, fit_params, method):
        from sklearn import get_config

        if get_config().get("enable_metadata_routing", False):
            return dict(process_routing(self, method, **fit_params).estimator.partial_fit)
        return dict(fit_params)

    def _check_params(self, epochs):
        for name, value, low in [("epochs", epochs, 1), ("prefetch", self.prefetch, 0),
                                 ("n_iter_no_change", self.n_iter_no_change, 1),
                                 ("n_replicas", self.n_replicas, 1),
                                 ("merge_every", self.merge_every, 1)]:
            if name == "merge_every" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                also = " or None" if name == "merge_every" else ""
                raise ValueError(f"{name} must be an integer >= {low}{also}; got {value!r}.")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1); got {self.validation_fraction!r}.")
        if self.n_replicas > 1:
            merge_family(self.estimator)  # an estimator without a merge rule fails here
        if not hasattr(self.estimator, "partial_fit"):
            raise TypeError(
                f"{type(self.estimator).__name__} has no partial_fit, so it cannot learn block by "
                f"block. Use an estimator with partial_fit (SGDClassifier, SGDRegressor, "
                f"MiniBatchKMeans, MLPClassifier, MultinomialNB, IncrementalPCA, ...)."
            )


def _sparse(X):
    """Whether X's blocks are sparse matrices."""
    return hasattr(getattr(X, "_meta", X), "tocsr")


def _as_float(value):
    return None if value is None else float(value)
