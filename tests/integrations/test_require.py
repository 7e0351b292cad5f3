"""The integrations load their framework only when imported, and say in one line when it is missing."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from resviz.errors import ResvizError


def test_importing_resviz_and_its_integrations_package_loads_no_framework():
    code = ("import sys, resviz, resviz.integrations\n"
            "print([m for m in ('lightning', 'pytorch_lightning', 'transformers', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("module", "missing", "package"), [
    ("resviz.integrations.lightning", ("lightning", "lightning.pytorch", "pytorch_lightning"), "lightning"),
    ("resviz.integrations.huggingface", ("transformers",), "transformers"),
])
def test_without_the_framework_the_import_fails_in_one_line(monkeypatch, module, missing, package):
    monkeypatch.delitem(sys.modules, module, raising=False)
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    with pytest.raises(ResvizError) as caught:
        importlib.import_module(module)
    message = str(caught.value)
    assert message.startswith(f"{module} needs the {package} package") and "\n" not in message
