"""The package's folders are layers: each imports only from the layers before it, with no import
cycle, counting imports inside functions too (the README's "Architecture" table)."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "outofcore"
LAYERS = ["runtime", "io", "preprocessing", "prediction", "training", "compiled", "cli"]


def _imports(path):
    """The outofcore modules ``path`` imports, anywhere in it (relative imports resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
    return {name for name in found if name.startswith("outofcore.")}


def _layer(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_no_layer_imports_a_later_layer():
    """runtime -> io -> preprocessing -> prediction -> training -> compiled; cli apart."""
    upward = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        source = _layer(module)
        if source is None:
            continue
        for target in map(_layer, _imports(path)):
            if target is not None and LAYERS.index(target) > LAYERS.index(source):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_importing_the_library_loads_neither_torch_nor_matplotlib():
    """``import outofcore`` stays light: compiling and the report load their libraries late."""
    code = "import sys, outofcore; print(sorted({'torch', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
