"""Names that say what they are: no two classes of the package share a name, and one module
alone is called ``layers.py`` (the training's layer inventory)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import resviz

PACKAGE = Path(resviz.__file__).parent


def test_no_two_classes_share_a_name():
    where: dict[str, list[str]] = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                where[node.name].append(str(path.relative_to(PACKAGE)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}


def test_one_module_is_called_layers():
    assert [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("layers.py")] == ["train/layers.py"]
