import subprocess
import sys

CORE = ["resviz", "resviz.models", "resviz.graph", "resviz.data", "resviz.train", "resviz.attribution",
        "resviz.cli", "resviz.commands.models"]


def test_core_never_imports_qt():
    code = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'PyQt5', 'PyQt6'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
