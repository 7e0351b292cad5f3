"""The files read at run time ship inside the package: found in the checkout, and in a wheel
installed into a fresh virtual environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from resviz.assets import ICON, asset_bytes, asset_path

ROOT = Path(__file__).resolve().parents[1]  # the checkout: pyproject.toml and resviz/


def test_the_icon_is_found_in_the_package():
    path = asset_path(ICON)
    assert path.is_file() and path.parent == ROOT / "resviz" / "assets"
    assert asset_bytes(ICON) == path.read_bytes() and asset_bytes(ICON).startswith(b"<svg")


def test_an_installed_wheel_finds_its_icon(tmp_path):
    # The wheel is built from a copy, so the checkout gets no build/ or egg-info folders.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "resviz", source / "resviz", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]

    def run(*command: str | Path, cwd: Path = tmp_path) -> str:
        result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    run(*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", tmp_path / "dist", source)
    [wheel] = (tmp_path / "dist").glob("resviz-*.whl")
    assert "resviz/assets/icon.svg" in zipfile.ZipFile(wheel).namelist()

    # Its dependencies (torch, ...) come from this interpreter's site-packages; resviz itself
    # only from the wheel, whatever copy of resviz that site-packages also holds.
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    run(*pip, "--python", python, "install", "--no-deps", "--no-index", "--ignore-installed", wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import sys, resviz\n"
            "from resviz.assets import ICON, asset_bytes, asset_path\n"
            "print(resviz.__file__)\n"
            "print(asset_path(ICON))\n"
            "print(asset_bytes(ICON)[:4].decode())\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')]\n")
    package, icon, start = run(python, "-c", code, cwd=elsewhere).splitlines()
    installed = Path(package).resolve().parent
    assert installed.is_relative_to(venv.resolve()) and installed.name == "resviz"
    assert Path(icon).resolve() == installed / "assets" / "icon.svg" and start == "<svg"
