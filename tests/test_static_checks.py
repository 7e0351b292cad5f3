"""The architecture and the code's hygiene, checked statically: ``lint-imports`` (the contracts in
pyproject.toml: the core never imports Qt, packages import only from the layers below them, no
import cycles) and ``ruff check``."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the checkout: pyproject.toml, resviz/ and tests/
QT = {"PySide6", "shiboken6", "pyqtgraph"}

if sys.version_info >= (3, 11):
    import tomllib
else:  # import-linter depends on tomli before 3.11
    import tomli as tomllib


def run_tool(*command: str) -> subprocess.CompletedProcess:
    # The checkout's resviz, whichever copy is installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_import_contracts_are_kept():
    lint_imports = Path(sysconfig.get_path("scripts")) / ("lint-imports.exe" if os.name == "nt" else "lint-imports")
    result = run_tool(str(lint_imports), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_but_the_window_is_under_the_qt_contract():
    """A new package (or module) next to resviz.gui is Qt-free only once it is listed."""
    listed = set()
    for contract in contracts():
        if contract["type"] == "forbidden" and QT <= set(contract["forbidden_modules"]):
            listed |= set(contract["source_modules"])
    package = ROOT / "resviz"
    children = {path.stem for path in package.glob("*.py")} | {
        path.parent.name for path in package.glob("*/__init__.py")}
    expected = {f"resviz.{name}" for name in children - {"__init__", "gui"}} | {"resviz"}
    assert listed == expected


def test_ruff_finds_nothing():
    result = run_tool(sys.executable, "-m", "ruff", "check", "--no-cache", "resviz", "tests")
    assert result.returncode == 0, result.stdout + result.stderr
