"""The one definition of "an exception in one line" (resviz/errors.py) and its callers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import resviz
from resviz.errors import ResvizError, describe_exception, first_line, one_line
from resviz.models.user import load_user_model
from resviz.runfile import status_sentence


def test_one_line_names_the_type_and_keeps_the_first_non_blank_line():
    assert one_line(ValueError("\n\n  bad shape  \nsecond line")) == "ValueError: bad shape"
    assert one_line(KeyError()) == "KeyError"
    assert one_line(RuntimeError("x" * 500)) == "RuntimeError: " + "x" * 197 + "..."


def test_describe_exception_keeps_the_whole_message():
    assert describe_exception(OSError("disk full\nwhile writing")) == "OSError: disk full\nwhile writing"
    assert describe_exception(RuntimeError("  ")) == "RuntimeError"


def test_first_line_skips_blank_lines():
    assert first_line("\n  \n reason \nmore") == "reason"
    assert first_line("") == ""


def test_a_failed_runs_tooltip_shows_the_first_line_of_its_stored_error():
    assert status_sentence("failed", "\nout of memory\ndetails") == "failed (out of memory)"


def test_a_user_model_that_raises_on_import_is_reported_through_one_line(tmp_path):
    source = tmp_path / "broken.py"
    source.write_text("raise ValueError('\\n\\nno weights here\\nsecond line')\n")
    with pytest.raises(ResvizError) as caught:
        load_user_model(f"{source}:make", trust=True)
    assert str(caught.value) == f"{source}: failed to import: ValueError: no weights here"


def test_no_module_formats_an_exception_by_hand():
    # "TypeName: message" and "first line of a message" are written once, in resviz/errors.py.
    by_hand = re.compile(r"type\((exc|error|err|e)\)\.__name__\}: \{|\.splitlines\(\)\[0\]")
    package = Path(resviz.__file__).parent
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if p.name != "errors.py" and p.name != "attribution_panel.py" and by_hand.search(p.read_text())]
    assert offenders == []
