import json
import subprocess
import sys

import pytest

from resviz import __version__
from resviz.cli import build_parser, main


def test_models_table(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "family", "depth", "parameters", "skips", "twin"]
    row = next(line.split() for line in out if line.startswith("resnet56 "))
    assert row == ["resnet56", "cifar-resnet", "56", "853.0K", "add", "plain56"]


def test_models_json(capsys):
    assert main(["models", "--json", "--family", "imagenet-resnet"]) == 0
    data = json.loads(capsys.readouterr().out)
    resnet18 = next(item for item in data if item["name"] == "resnet18")
    assert resnet18["parameters"] == 11_689_512 and resnet18["skips"] == "add"
    assert {item["family"] for item in data} == {"imagenet-resnet"}


def test_unknown_family_is_a_usage_error(capsys):
    assert main(["models", "--family", "transformer"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("resviz: error: no model family 'transformer'") and "Traceback" not in err


def test_every_subcommand_has_help():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert {"models", "gui"} <= set(subparsers.choices)
    for name, sub in subparsers.choices.items():
        assert sub.format_help().startswith(f"usage: resviz {name}")


def test_version_and_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "resviz", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"resviz {__version__}"


def test_debug_shows_traceback(capsys):
    from resviz.commands import _common  # noqa: F401 - the shared model arguments import cleanly
    assert main(["--debug", "models", "--family", "nope"]) == 2
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["models", "--help"]])
def test_help_exits_zero(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
