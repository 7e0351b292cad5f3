import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def run_readme_example(tmp_path, monkeypatch):
    """Run the README's ```python block that mentions ``name``, in a fresh folder; returns that folder."""

    def run(name: str) -> Path:
        blocks = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
                  if name in b]
        assert len(blocks) == 1, f"one README example should use {name}, found {len(blocks)}"
        monkeypatch.chdir(tmp_path)
        exec(compile(blocks[0], f"README.md ({name} example)", "exec"), {"__name__": "readme_example"})
        return tmp_path

    return run
