"""What a search may search: the learner at the end of a Pipeline, and its parameters' names.

The preprocessing is fitted once and shared by every candidate, and an Incremental's settings
are the search's to set, so only the learner's own parameters are searched; anything else is
refused, by name, before a block is read.
"""

import inspect

from sklearn.base import clone
from sklearn.pipeline import Pipeline

from outofcore.training.incremental import Incremental


def learner_of(estimator):
    """``(a clone of the Pipeline or None, the prefix of the learner's parameters, the prefix of
    the Incremental's own parameters or None, a clone of the learner)``, refusing what cannot be
    searched."""
    pipeline, last, prefix, wrapper = None, estimator, "", None
    if isinstance(estimator, Pipeline):
        pipeline = clone(estimator)
        name, last = pipeline.steps[-1]
        prefix = f"{name}__"
    if isinstance(last, Incremental):
        changed = _changed_settings(last)
        if changed:
            raise ValueError(
                f"the search sets how every candidate learns, so the Incremental's "
                f"{', '.join(changed)} would be ignored. Leave them at their defaults and give "
                f"the search max_epochs=, random_state=, classes=, shuffle_blocks=, "
                f"shuffle_rows=, validation_fraction=, scoring= or prefetch= instead.")
        last, wrapper, prefix = last.estimator, prefix, prefix + "estimator__"
    if not hasattr(last, "partial_fit"):
        raise TypeError(
            f"{type(last).__name__} has no partial_fit, so the candidates cannot learn block by "
            f"block. End the Pipeline with an estimator that has partial_fit (SGDClassifier, "
            f"SGDRegressor, MLPClassifier, MultinomialNB, ...), or with ooc.Incremental around "
            f"one.")
    return pipeline, prefix, wrapper, clone(last)


def _changed_settings(incremental):
    """``name=value`` of the Incremental's parameters other than ``estimator`` that differ from
    their defaults."""
    defaults = {n: p.default for n, p in inspect.signature(Incremental).parameters.items()
                if n != "estimator"}
    params = incremental.get_params(deep=False)
    return [f"{n}={params[n]!r}" for n, default in defaults.items()
            if repr(params[n]) != repr(default)]


def learner_keys(distributions, pipeline, prefix, wrapper, learner):
    """``{key of param_distributions: the learner's parameter}``, refusing any other key."""
    grids = [distributions] if isinstance(distributions, dict) else distributions
    if not isinstance(grids, (list, tuple)) or not grids or not all(
            isinstance(g, dict) for g in grids):
        raise TypeError(f"param_distributions must be a dict or a list of dicts; got "
                        f"{distributions!r}.")
    own = learner.get_params(deep=True)
    steps = dict(pipeline.steps[:-1]) if pipeline is not None else {}
    names = {}
    for key in [k for grid in grids for k in grid]:
        if not isinstance(key, str):
            raise TypeError(f"parameter names are strings; got {key!r}.")
        if key.startswith(prefix) and key[len(prefix):] in own:
            names[key] = key[len(prefix):]
            continue
        step = key.split("__", 1)[0]
        if step in steps:
            raise ValueError(
                f"{key!r} is a parameter of the preprocessing step {step!r}. The search fits "
                f"the preprocessing once and gives every candidate the same transformed "
                f"blocks, so only the learner's parameters ({prefix}...) can be searched. Set "
                f"{key!r} in the Pipeline, or run one search per value of it.")
        if wrapper is not None and key.startswith(wrapper) and \
                key[len(wrapper):] in Incremental(learner).get_params(deep=False):
            raise ValueError(
                f"{key!r} is a setting of the Incremental, which the search sets for every "
                f"candidate (max_epochs=, random_state=, ...); search the learner's parameters "
                f"({prefix}...).")
        shown = ", ".join(prefix + n for n in sorted(n for n in own if "__" not in n))
        raise ValueError(f"{key!r} is not a parameter of the learner {type(learner).__name__}; "
                         f"its parameters are {shown}.")
    return names
