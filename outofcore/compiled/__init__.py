"""Fitted scikit-learn pipelines compiled to torch tensor programs.

``compile_pipeline(model)`` converts a fitted model into a :class:`CompiledPipeline` with the same
``predict`` / ``predict_proba`` / ``decision_function`` / ``transform`` / ``score``; ``save`` and
:func:`load_compiled` move it to a serving process that has neither scikit-learn nor pickle.

Converters (``_convert_*``) read fitted attributes into NumPy; modules (``_modules``,
``_tree_modules``) do the tensor math. scikit-learn is imported only when compiling.
"""

from ._pipeline import CompiledPipeline, compile_pipeline
from ._serialize import load_compiled

__all__ = ["CompiledPipeline", "compile_pipeline", "load_compiled"]
