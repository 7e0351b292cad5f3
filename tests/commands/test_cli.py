import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from resviz import __version__
from resviz.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


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


# ------------------------------------------------------------------------------ the window's targets


@pytest.fixture
def opened(monkeypatch):
    """What the window was asked to open, without opening it."""
    import resviz.gui.app

    calls = []
    monkeypatch.setattr(resviz.gui.app, "run_app", lambda options, on_open=None: calls.append(options) or 0)
    return calls


def test_a_run_file_alone_opens_it_in_the_window(tmp_path, opened):
    from resviz.benchmarks.synthetic import write_synthetic_run

    path = str(write_synthetic_run(tmp_path / "mine.resviz", steps=10))
    assert main([path]) == 0
    assert main(["--debug", path, "--step", "5", "--tab", "training"]) == 0
    assert main(["resnet20", "-o", "norm=none"]) == 0  # a zoo model too
    assert [(o.target, o.step, o.tab, o.options) for o in opened] == [
        (path, None, None, {}), (path, 5, "training", {}), ("resnet20", None, None, {"norm": "none"})]


def test_a_word_that_is_neither_command_nor_target_is_a_usage_error(capsys, opened):
    assert main(["trian"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("resviz: error: argument COMMAND: invalid choice: 'trian'") and err.count("\n") == 1
    assert not opened


# ------------------------------------------------------------------------------ --debug and usage errors


@pytest.mark.parametrize("argv", [["--debug", "models", "--family", "nope"], ["models", "--debug", "--family", "nope"],
                                  ["models", "--family", "nope", "--debug"]])
def test_debug_works_anywhere_on_the_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1].startswith("resviz: error: no model family 'nope'")


def test_debug_keeps_its_value_through_subcommands():
    parser = build_parser()
    assert parser.parse_args(["--debug", "train"]).debug is True
    assert parser.parse_args(["bench", "recorder", "--debug"]).debug is True
    assert parser.parse_args(["train"]).debug is False


def _all_subcommands(parser, path=()):
    for action in parser._actions:
        if action.dest in ("command", "benchmark"):
            for name, sub in action.choices.items():
                yield (*path, name)
                yield from _all_subcommands(sub, (*path, name))


def test_a_bad_argument_is_one_line_without_usage(capsys):
    assert main(["train", "--epochs", "x"]) == 2
    assert capsys.readouterr().err == ("resviz: error: argument --epochs: invalid int value: 'x'; "
                                       "see 'resviz train --help'\n")
    paths = list(_all_subcommands(build_parser()))
    assert ("bench", "recorder") in paths and ("train",) in paths
    for path in paths:
        assert main([*path, "--no-such-option"]) == 2, path
        err = capsys.readouterr().err
        assert err.startswith("resviz: error: ") and err.count("\n") == 1 and "usage" not in err, err
        assert err.rstrip().endswith(f"see 'resviz {' '.join(path)} --help'"), err


# ------------------------------------------------------------------------------ no display


@pytest.mark.parametrize("environ, platform, refused", [
    ({}, "linux", True), ({"DISPLAY": ":0"}, "linux", False), ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False), ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":1"}, "linux", False), ({}, "darwin", False), ({}, "win32", False),
])
def test_the_display_check(environ, platform, refused):
    from resviz.commands.gui import check_display
    from resviz.errors import ResvizError

    if refused:
        with pytest.raises(ResvizError, match="QT_QPA_PLATFORM=offscreen"):
            check_display(environ, platform)
    else:
        check_display(environ, platform)


def test_without_a_display_the_window_says_so_before_qt_loads(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("X11 and Wayland displays are a Linux matter")  # elsewhere Qt needs no display server
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(ROOT)
    code = ("import sys\nfrom resviz.cli import main\ncodes = [main([]), main(['gui']), main(['x.resviz'])]\n"
            "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt was imported'\n"
            "sys.exit(max(codes) if len(set(codes)) == 1 else 99)\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 3 and len(set(lines)) == 1, lines
    assert lines[0].startswith("resviz: error: no display") and "QT_QPA_PLATFORM=offscreen" in lines[0]


# ------------------------------------------------------------------------------ devices, packaging


@pytest.mark.parametrize("device", ["cuda", "tpu"])
def test_attribute_and_train_refuse_a_device_alike(capsys, monkeypatch, tmp_path, device):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same on a machine with a GPU
    assert main(["train", "resnet20", "--device", device, "--out", str(tmp_path / "t.resviz")]) == 2
    train_error = capsys.readouterr().err
    assert main(["attribute", "resnet20", "--device", device, "--out", str(tmp_path / "a.png")]) == 2
    assert capsys.readouterr().err == train_error and train_error.count("\n") == 1
    assert f"device {device if device == 'cuda' else repr(device)}" in train_error
    assert not list(tmp_path.iterdir())


def test_the_license_is_an_spdx_expression():
    """setuptools 77 reads ``license = "MIT"`` (PEP 639); the old table form is deprecated."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = "MIT"$', text, re.M) and "license = {" not in text
    files = re.search(r"^license-files = \[(.*)\]$", text, re.M).group(1)
    assert all((ROOT / name.strip().strip('"')).is_file() for name in files.split(","))
    assert int(re.search(r'requires = \["setuptools>=(\d+)', text).group(1)) >= 77
    import importlib.metadata

    try:
        installed = int(importlib.metadata.version("setuptools").split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        installed = 0
    if installed >= 77:  # setuptools as the build would run it: no deprecation warning
        import warnings

        from setuptools.config.pyprojecttoml import apply_configuration
        from setuptools.dist import Distribution

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            dist = apply_configuration(Distribution(), str(ROOT / "pyproject.toml"))
        assert dist.metadata.license_expression == "MIT"
