"""A catalogue of fitted models and the data to compare them on, shared by the compiled-model tests.

Every entry is a fitted scikit-learn (or outofcore) object and a test set it should handle:
numeric arrays for the numeric models, DataFrames with string, categorical and missing values for
the table models. Models are fitted once per test session.
"""

import functools
import warnings

import numpy as np
import pandas as pd
from sklearn import (cluster, compose, decomposition, ensemble, impute, linear_model, naive_bayes,
                     neural_network, pipeline, preprocessing, svm, tree)
from sklearn.exceptions import ConvergenceWarning

import outofcore as ooc


def _numbers(seed, n=600, d=6):
    rng = np.random.default_rng(seed)
    # Features on different scales, some far from zero (float32 cancellation shows up there).
    X = rng.normal(size=(n, d)) * [1, 10, 0.1, 5, 2, 1][:d] + [0, 5, -3, 100, 1, 0][:d]
    z = (X - X.mean(0)) / X.std(0)
    return X, z, rng


@functools.lru_cache(maxsize=None)
def data():
    """Training and test sets by name: X (float64), targets, and a NaN-holding copy of X."""
    X, z, rng = _numbers(0)
    three = np.argmax(z[:, :3] + 0.5 * rng.normal(size=(len(X), 3)), axis=1)
    value = z @ rng.normal(size=z.shape[1]) + 0.1 * rng.normal(size=len(X))
    X_nan = X.copy()
    X_nan[rng.random(X.shape) < 0.1] = np.nan
    counts = rng.poisson(lam=rng.uniform(0.5, 5, 6), size=(len(X), 6)).astype(np.float64)
    return {"X": X, "X_nan": X_nan, "counts": counts, "three": three, "two": (three > 0).astype(int),
            "words": np.array(["cat", "dog", "eel"])[three], "value": value,
            "values": np.column_stack([value, np.sin(value)]), "positive": np.exp(value / 3)}


def _table(seed, n=500):
    """A mixed DataFrame: numbers with gaps, strings with None/NaN, a category column."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", "violet", None], size=n, p=[.4, .3, .2, .04, .06])
    size = rng.choice(["S", "M", "L", np.nan], size=n, p=[.3, .4, .25, .05]).astype(object)
    size[pd.isna(size)] = np.nan
    shape = pd.Categorical(rng.choice(["round", "square", "star"], size=n))
    amount = rng.normal(size=n) * 10 + 50
    amount[rng.random(n) < 0.05] = np.nan
    count = rng.integers(0, 5, size=n).astype(float)
    df = pd.DataFrame({"colour": pd.Series(colour, dtype=object), "size": pd.Series(size, dtype=object),
                       "shape": shape, "amount": amount, "count": count, "weight": rng.normal(size=n)})
    score = (df["amount"].fillna(50) / 10 + (df["colour"] == "red") * 2 - (df["size"] == "L")
             + (df["shape"] == "star") + df["weight"])
    return df, (score > score.median()).astype(int).to_numpy(), score.to_numpy()


def _quiet(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*PassiveAggressive.*", category=FutureWarning)
        return fit()


def _by_name(name, **params):
    """A scikit-learn linear model looked up by name (PassiveAggressive* leave in 1.10)."""
    return getattr(linear_model, name)(**params) if hasattr(linear_model, name) else None


def _scaled(est):
    return pipeline.make_pipeline(preprocessing.StandardScaler(), est)


# name: (factory, training X key, target key). The factory may return None (class gone).
NUMERIC = {
    "logistic-3": (lambda: _scaled(linear_model.LogisticRegression()), "X", "three"),
    "logistic-2-words": (lambda: _scaled(linear_model.LogisticRegression()), "X", "words"),
    "logistic-cv": (lambda: _scaled(linear_model.LogisticRegressionCV(
        Cs=2, cv=2, l1_ratios=(0.0,), scoring="accuracy", use_legacy_attributes=False)), "X", "two"),
    "sgd-log-3": (lambda: _scaled(linear_model.SGDClassifier(loss="log_loss", random_state=0)), "X", "three"),
    "sgd-huber-2": (lambda: _scaled(linear_model.SGDClassifier(loss="modified_huber", random_state=0)),
                    "X", "two"),
    "sgd-hinge-3": (lambda: _scaled(linear_model.SGDClassifier(random_state=0)), "X", "three"),
    "perceptron": (lambda: _scaled(linear_model.Perceptron(random_state=0)), "X", "three"),
    "passive-aggressive": (lambda: _scaled(_by_name("PassiveAggressiveClassifier", random_state=0)),
                           "X", "two"),
    "ridge-classifier": (lambda: _scaled(linear_model.RidgeClassifier()), "X", "three"),
    "linear-svc": (lambda: _scaled(svm.LinearSVC()), "X", "two"),
    "gaussian-nb": (lambda: naive_bayes.GaussianNB(), "X", "three"),
    "bernoulli-nb": (lambda: _scaled(naive_bayes.BernoulliNB(binarize=0.0)), "X", "three"),
    "multinomial-nb": (lambda: naive_bayes.MultinomialNB(), "counts", "two"),
    "mlp-relu-3": (lambda: _scaled(neural_network.MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=60,
                                                                random_state=0)), "X", "three"),
    "mlp-tanh-2": (lambda: _scaled(neural_network.MLPClassifier(hidden_layer_sizes=(8,), activation="tanh",
                                                                max_iter=60, random_state=0)), "X", "two"),
    "mlp-logistic-words": (lambda: _scaled(neural_network.MLPClassifier(
        hidden_layer_sizes=(8,), activation="logistic", max_iter=60, random_state=0)), "X", "words"),
    "mlp-identity-regressor": (lambda: _scaled(neural_network.MLPRegressor(
        hidden_layer_sizes=(8,), activation="identity", max_iter=60, random_state=0)), "X", "values"),
    "mlp-relu-regressor": (lambda: _scaled(neural_network.MLPRegressor(
        hidden_layer_sizes=(12,), max_iter=60, random_state=0)), "X", "value"),
    "linear-regression": (lambda: linear_model.LinearRegression(), "X", "value"),
    "ridge-2-targets": (lambda: linear_model.Ridge(alpha=2.0), "X", "values"),
    "lasso": (lambda: _scaled(linear_model.Lasso(alpha=0.01)), "X", "value"),
    "elastic-net": (lambda: _scaled(linear_model.ElasticNet(alpha=0.01)), "X", "value"),
    "sgd-regressor": (lambda: _scaled(linear_model.SGDRegressor(random_state=0)), "X", "value"),
    "passive-aggressive-regressor": (lambda: _scaled(_by_name("PassiveAggressiveRegressor",
                                                              random_state=0)), "X", "value"),
    "linear-svr": (lambda: _scaled(svm.LinearSVR(loss="squared_epsilon_insensitive", dual=False)),
                   "X", "value"),
    "kmeans": (lambda: cluster.KMeans(n_clusters=5, n_init=1, max_iter=20, random_state=0), "X", None),
    "minibatch-kmeans-1": (lambda: cluster.MiniBatchKMeans(n_clusters=1, n_init=1, random_state=0), "X", None),
    "kmeans-feature-step": (lambda: pipeline.make_pipeline(
        preprocessing.StandardScaler(), cluster.KMeans(n_clusters=4, n_init=1, max_iter=20, random_state=0),
        linear_model.LogisticRegression()), "X", "three"),
    "tree-3": (lambda: tree.DecisionTreeClassifier(max_depth=6, random_state=0), "X_nan", "three"),
    "forest-2": (lambda: ensemble.RandomForestClassifier(n_estimators=7, max_depth=5, random_state=0),
                 "X_nan", "two"),
    "extra-trees-words": (lambda: ensemble.ExtraTreesClassifier(n_estimators=6, max_depth=5, random_state=0),
                          "X_nan", "words"),
    "extra-tree-regressor": (lambda: tree.ExtraTreeRegressor(max_depth=8, random_state=0), "X_nan", "value"),
    "forest-2-targets": (lambda: ensemble.RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0),
                         "X_nan", "values"),
    "deep-forest-regressor": (lambda: ensemble.RandomForestRegressor(n_estimators=3, random_state=0),
                              "X", "value"),
    "boosting-3": (lambda: ensemble.GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0),
                   "X", "three"),
    "boosting-exponential": (lambda: ensemble.GradientBoostingClassifier(
        n_estimators=8, loss="exponential", init="zero", random_state=0), "X", "two"),
    "boosting-regressor": (lambda: ensemble.GradientBoostingRegressor(n_estimators=8, random_state=0),
                           "X", "value"),
    "hist-boosting-3": (lambda: ensemble.HistGradientBoostingClassifier(max_iter=7, random_state=0),
                        "X_nan", "three"),
    "hist-boosting-2": (lambda: ensemble.HistGradientBoostingClassifier(max_iter=9, random_state=0),
                        "X_nan", "two"),
    "hist-boosting-poisson": (lambda: ensemble.HistGradientBoostingRegressor(loss="poisson", max_iter=10,
                                                                             random_state=0), "X", "positive"),
    "hist-boosting-regressor": (lambda: ensemble.HistGradientBoostingRegressor(max_iter=10, random_state=0),
                                "X_nan", "value"),
    "standard-scaler": (lambda: preprocessing.StandardScaler(), "X_nan", None),
    "standard-scaler-no-mean": (lambda: preprocessing.StandardScaler(with_mean=False), "X", None),
    "minmax-clip": (lambda: preprocessing.MinMaxScaler(clip=True), "X", None),
    "maxabs-clip+ridge": (lambda: pipeline.make_pipeline(preprocessing.MaxAbsScaler(clip=True),
                                                         linear_model.Ridge()), "X", "value"),
    "robust-scaler": (lambda: preprocessing.RobustScaler(), "X_nan", None),
    "robust-no-centering+logistic": (lambda: pipeline.make_pipeline(
        preprocessing.RobustScaler(with_centering=False), linear_model.LogisticRegression()), "X", "two"),
    "normalizer-l1": (lambda: preprocessing.Normalizer(norm="l1"), "X", None),
    "normalizer-max+sgd": (lambda: pipeline.make_pipeline(
        preprocessing.Normalizer(norm="max"), linear_model.SGDClassifier(random_state=0)), "X", "two"),
    "poly-3": (lambda: pipeline.make_pipeline(preprocessing.StandardScaler(),
                                              preprocessing.PolynomialFeatures(degree=3)), "X", None),
    "poly+normalizer-columns+ridge": (lambda: pipeline.make_pipeline(compose.ColumnTransformer([
        ("poly", preprocessing.PolynomialFeatures(2), [0, 1, 2]),
        ("norm", preprocessing.Normalizer(), [3, 4, 5])]), linear_model.Ridge()), "X", "values"),
    "poly-2+logistic-3": (lambda: pipeline.make_pipeline(preprocessing.StandardScaler(),
        preprocessing.PolynomialFeatures(2, include_bias=False), linear_model.LogisticRegression(max_iter=500)),
        "X", "three"),
    "normalizer-l2+mlp": (lambda: pipeline.make_pipeline(preprocessing.Normalizer(), neural_network.MLPClassifier(
        hidden_layer_sizes=(5,), max_iter=300, random_state=0)), "X", "two"),
    "poly-interactions+ridge": (lambda: pipeline.make_pipeline(
        preprocessing.StandardScaler(), preprocessing.PolynomialFeatures(interaction_only=True,
                                                                         include_bias=False),
        linear_model.Ridge()), "X", "value"),
    "imputer-mean-indicator": (lambda: impute.SimpleImputer(add_indicator=True), "X_nan", None),
    "imputer-median+logistic": (lambda: pipeline.make_pipeline(
        impute.SimpleImputer(strategy="median"), preprocessing.StandardScaler(),
        linear_model.LogisticRegression()), "X_nan", "three"),
    "imputer-constant+mlp": (lambda: pipeline.make_pipeline(
        impute.SimpleImputer(strategy="constant", fill_value=-1.0), preprocessing.StandardScaler(),
        neural_network.MLPClassifier(hidden_layer_sizes=(8,), max_iter=40, random_state=0)), "X_nan", "two"),
    "pca-whiten": (lambda: decomposition.PCA(n_components=3, whiten=True), "X", None),
    "scaler+pca+mlp": (lambda: pipeline.make_pipeline(
        preprocessing.StandardScaler(), decomposition.PCA(n_components=4),
        neural_network.MLPClassifier(hidden_layer_sizes=(8,), max_iter=40, random_state=0)), "X", "three"),
    "incremental-pca": (lambda: decomposition.IncrementalPCA(n_components=2), "X", None),
    "outofcore-scalers": (lambda: pipeline.make_pipeline(ooc.StandardScaler(), ooc.MinMaxScaler(),
                                                         ooc.MaxAbsScaler()), "X_nan", None),
    "column-transformer": (lambda: pipeline.make_pipeline(compose.ColumnTransformer(
        [("std", preprocessing.StandardScaler(), [0, 1]),
         ("mm", pipeline.make_pipeline(preprocessing.MinMaxScaler(clip=True), decomposition.PCA(1)), [3]),
         ("imp", impute.SimpleImputer(), slice(4, 6))], remainder="passthrough"),
        linear_model.LogisticRegression()), "X", "three"),
}

# Every estimator Incremental can wrap, wrapped; by the names of their classes.
INCREMENTAL = {
    "SGDClassifier": ("linear_model", {"loss": "log_loss"}, "three"),
    "SGDRegressor": ("linear_model", {}, "value"),
    "Perceptron": ("linear_model", {}, "three"),
    "PassiveAggressiveClassifier": ("linear_model", {}, "two"),
    "PassiveAggressiveRegressor": ("linear_model", {}, "value"),
    "MiniBatchKMeans": ("cluster", {"n_clusters": 3, "n_init": 1}, None),
    "MLPClassifier": ("neural_network", {"hidden_layer_sizes": (8,)}, "three"),
    "MLPRegressor": ("neural_network", {"hidden_layer_sizes": (8,)}, "value"),
    "MultinomialNB": ("naive_bayes", {}, "two"),
    "BernoulliNB": ("naive_bayes", {}, "three"),
    "IncrementalPCA": ("decomposition", {"n_components": 2}, None),
}


def _incremental(name):
    module, params, target = INCREMENTAL[name]
    from importlib import import_module

    cls = getattr(import_module(f"sklearn.{module}"), name, None)
    if cls is None:
        return None
    if "random_state" in cls().get_params():
        params = dict(params, random_state=0)
    return ooc.Incremental(cls(**params), epochs=2, random_state=0)


def _tables():
    def encoded(encoder, model):
        numbers = pipeline.make_pipeline(impute.SimpleImputer(), preprocessing.StandardScaler())
        return pipeline.make_pipeline(compose.ColumnTransformer(
            [("cat", encoder, ["colour", "size", "shape"]), ("num", numbers, ["amount", "count", "weight"])]),
            model)

    def ohe(**kw):
        return preprocessing.OneHotEncoder(**kw)

    imputed = pipeline.make_pipeline(impute.SimpleImputer(strategy="constant", fill_value="none"),
                                     ohe(handle_unknown="ignore"))
    ordinal = preprocessing.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return {
        "onehot+logistic": lambda: encoded(ohe(handle_unknown="ignore"), linear_model.LogisticRegression()),
        "onehot-dense-drop+mlp": lambda: encoded(ohe(drop="first", sparse_output=False,
                                                     handle_unknown="ignore"),
                                                 neural_network.MLPClassifier(hidden_layer_sizes=(8,),
                                                                              max_iter=50, random_state=0)),
        "onehot-infrequent+sgd": lambda: encoded(ohe(min_frequency=40, handle_unknown="infrequent_if_exist"),
                                                 linear_model.SGDClassifier(loss="log_loss", random_state=0)),
        "onehot-max-categories+ridge": lambda: encoded(ohe(max_categories=3, handle_unknown="ignore"),
                                                       linear_model.Ridge()),
        "imputed-onehot+forest": lambda: encoded(imputed, ensemble.RandomForestClassifier(
            n_estimators=5, max_depth=5, random_state=0)),
        "ordinal+hist-boosting": lambda: encoded(ordinal, ensemble.HistGradientBoostingClassifier(
            max_iter=8, categorical_features=[0, 1, 2], random_state=0)),
        "ordinal-infrequent+tree": lambda: encoded(preprocessing.OrdinalEncoder(
            max_categories=3, handle_unknown="use_encoded_value", unknown_value=-2,
            encoded_missing_value=-3), tree.DecisionTreeClassifier(max_depth=5, random_state=0)),
        "onehot-alone": lambda: compose.ColumnTransformer([("cat", ohe(handle_unknown="ignore"),
                                                            ["colour", "size", "shape"])],
                                                          remainder="drop"),
        "hist-boosting-from-dtype": lambda: ensemble.HistGradientBoostingRegressor(max_iter=8,
                                                                                    random_state=0),
    }


@functools.lru_cache(maxsize=None)
def catalogue():
    """name -> (fitted model, training X, target or None); models gone from scikit-learn omitted."""
    d = data()
    out = {}
    for name, (factory, x_key, y_key) in NUMERIC.items():
        model = _quiet(factory)
        if model is None or (hasattr(model, "steps") and model.steps[-1][1] is None):
            continue
        y = None if y_key is None else d[y_key]
        out[name] = (_quiet(lambda: model.fit(d[x_key], y)), d[x_key], y)
    for name, (_, _, y_key) in INCREMENTAL.items():
        model = _quiet(lambda: _incremental(name))
        if model is None:
            continue
        X = d["counts"] if name.endswith("NB") else preprocessing.StandardScaler().fit_transform(d["X"])
        y = None if y_key is None else d[y_key]
        out[f"incremental-{name}"] = (_quiet(lambda: model.fit(X, y)), X, y)
    df, labels, score = _table(1)
    for name, factory in _tables().items():
        y = score if "ridge" in name or "from-dtype" in name else labels
        # HistGradientBoosting reads category columns (not strings) itself.
        X = df[["shape", "amount", "count", "weight"]] if "from-dtype" in name else df
        out[name] = (_quiet(lambda: factory().fit(X, y)), X, y)
    return out


def unseen_rows(X, n=301, seed=5):
    """A test set like X (different rows, NaN where X has NaN, unseen categories in tables)."""
    if isinstance(X, pd.DataFrame):
        df, _, _ = _table(seed, n)
        df.loc[df.index[:3], "colour"] = ["purple", "red", None]  # an unknown, a known, a missing
        return df[list(X.columns)]
    rng = np.random.default_rng(seed)
    rows = X[rng.integers(0, len(X), n)] + rng.normal(scale=0.01, size=(n, X.shape[1])) * np.nanstd(X, 0)
    if np.isnan(X).any():
        rows[rng.random(rows.shape) < 0.1] = np.nan
    return rows
