import subprocess
import sys
from pathlib import Path

import resviz

PACKAGE = Path(resviz.__file__).parent


def core_modules() -> list[str]:
    """Every module outside resviz.gui (commands and benchmarks included), found on disk so a
    new module is checked without being listed; ``__main__`` opens the window and is left out."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "gui" in parts[1:2] or parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_core_never_imports_qt():
    """At run time: lint-imports (tests/test_static_checks.py) sees resviz's own imports, not those
    made by the libraries it imports (matplotlib picks a backend, say) nor by module name strings."""
    modules = core_modules()
    assert {"resviz", "resviz.cli", "resviz.commands.models", "resviz.benchmarks.synthetic"} <= set(modules)
    assert not any(name.startswith("resviz.gui") for name in modules)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'PyQt5', 'PyQt6'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
