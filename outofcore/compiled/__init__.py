"""Fitted scikit-learn pipelines compiled to torch tensor programs.

``compile_pipeline(model)`` converts a fitted model into a :class:`CompiledPipeline` with the same
``predict`` / ``predict_proba`` / ``decision_function`` / ``transform`` / ``score``; ``save`` and
:func:`load_compiled` move it to a serving process that has neither scikit-learn nor pickle.

Converters (``_convert_*``) read fitted attributes into NumPy records (``_spec``); the input
table becomes an array (``_inputs``); steps (``_steps``) and heads (``_heads``,
``_trees``) are the tensor programs, with one numba kernel per model family on the CPU
(``_kernels``). scikit-learn is imported only when compiling.
"""

try:
    import torch  # noqa: F401
except ImportError as e:  # the compile extra is optional; say how to get it
    raise ImportError(
        "outofcore.compiled needs PyTorch: pip install 'outofcore[compile]' (or the torch build "
        "for your CUDA version first, then outofcore[compile])") from e

from ._api import compile_pipeline, load_compiled
from ._pipeline import CompiledPipeline
from ._registry import register

__all__ = ["CompiledPipeline", "compile_pipeline", "load_compiled", "register"]
