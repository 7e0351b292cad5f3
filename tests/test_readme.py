"""README.md runs: every command of its ```bash blocks is executed, and what it claims is checked.

How a command runs:

- Set-up lines (``pip install ...``) are not run: the README must hold exactly ``SETUP_LINES``, and
  what such a line runs after installing (``&& resviz``) runs like any other command; ``pytest`` is
  this suite.
- Window commands (``resviz``, ``resviz gui ...``, ``resviz RUN.resviz``) run as typed, in a
  subprocess with ``QT_QPA_PLATFORM=offscreen`` and ``RESVIZ_QUIT_AFTER_LOAD=1``: the window opens,
  loads its model (and run) and closes itself; an error dialog fails it.
- Every other ``resviz`` command runs in this process through ``resviz.cli.main``: as written when
  its first words are in ``AS_WRITTEN``, with ``REDUCED``'s flags appended when they are there. A
  command in neither table fails, asking to be added to one, so that a slow new command never runs
  for minutes unnoticed.
- The ``$ resviz ...`` lines of ```text blocks run too and must print what the block shows; files
  the README introduces as "this `NAME`:" before a code block are written first.

Commands run in README order in one temporary folder (later ones read what earlier ones wrote).

What a command claims -- its trailing comment and the indented comment lines below it -- is
checked by ``CLAIMS``: every phrase of the comment must be matched by a claim's pattern, whose check
runs on the command's output and files; a phrase that no claim matches fails, asking for a check.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from resviz.cli import build_parser, main, route_window_target
from resviz.graph import SKIP_KINDS

# The tour (every command once, a module-scoped fixture) runs on one worker, not once per worker.
pytestmark = pytest.mark.xdist_group("readme")

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# The set-up lines the README may show, and the commands each runs once installed.
SETUP_LINES = {
    "pip install -e . && resviz": ["resviz"],
    "pip install -e '.[test]' && pytest": [],  # pytest: this suite
}

# Commands that take a few seconds as written, by their first words.
AS_WRITTEN = ("resviz models", "resviz graph", "resviz runs", "resviz attribute")

# Commands that are slow as written, by their first words -> the flags appended to run them in a
# few seconds (the longest matching entry wins). argparse keeps the last value of an option, so
# these override the README's own; use options taking one value (repeatable ones such as -o add up).
REDUCED = {
    # 8 samples in batches of 4: two steps an epoch, so --epochs 3 still gives three checkpoints.
    "resviz train": "--samples 8 --test-samples 8 --batch-size 4 --steps 6",
    "resviz bench recorder": "--batch-size 2 --steps 1",
    # A preset's own smaller budget: its lesson still shows (tests/presets measures the margins).
    "resviz demo": "--quick",
    "resviz bench trainer": "--batch-size 2 --steps 1 --rounds 2",
    "resviz signal": "--depths 8,14 --batch 2 --line-points 8",
    "resviz paths": "--samples 1 --batch 2",
    "resviz landscape": "--grid 3 --samples 8",
    "resviz lesion": "--samples 8 --draws 1",
}

WINDOW_SECONDS = 180  # a window that has not loaded by then is stuck


# ------------------------------------------------------------------------------ reading the README


@dataclass
class Command:
    text: str  # as written, continuation lines joined, without its comment
    words: list[str]
    comment: str = ""
    expected: str | None = None  # ```text blocks: what it prints


def split_comment(line: str) -> tuple[str, str]:
    """``cmd --x 'a # b'  # note`` -> (``cmd --x 'a # b'``, ``note``): a ``#`` outside quotes after a space."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1:].strip()
    return line.rstrip(), ""


def logical_lines(body: str) -> list[str]:
    """The block's lines with backslash continuations joined."""
    lines: list[str] = []
    pending = ""
    for line in body.splitlines():
        code, _ = split_comment(line)
        if code.endswith("\\"):
            pending += code[:-1] + " "
            continue
        lines.append(pending + line.lstrip() if pending else line)
        pending = ""
    if pending:
        lines.append(pending)
    return lines


def fenced_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```", markdown, re.S | re.M)]


def shown_files(markdown: str) -> dict[str, str]:
    """Files the README shows for commands to use: "With this `block.py`:" followed by a code block."""
    pattern = r"this `([\w.-]+\.\w+)`:\s*\n\s*```\w*\n(.*?)^```"
    return {m.group(1): m.group(2) for m in re.finditer(pattern, markdown, re.S | re.M)}


def parse_readme(markdown: str) -> tuple[list[str], list[Command]]:
    """The set-up lines, and the commands to run in order."""
    setup: list[str] = []
    commands: list[Command] = []
    for language, body in fenced_blocks(markdown):
        if language == "bash":
            _parse_bash(body, setup, commands)
        elif language == "text":
            _parse_transcript(body, commands)
    return setup, commands


def _parse_bash(body: str, setup: list[str], commands: list[Command]) -> None:
    heading = ""  # an unindented comment line speaks of the next command
    previous: Command | None = None
    for line in logical_lines(body):
        code, comment = split_comment(line)
        if not code:
            if comment and line[:1].isspace() and previous is not None:
                previous.comment = f"{previous.comment} {comment}".strip()
            elif comment:
                heading = f"{heading} {comment}".strip()
            continue
        comment = f"{heading} {comment}".strip()
        heading = ""
        if code.split()[0] == "pip":
            setup.append(code)
            runs = [Command(text, shlex.split(text), comment) for text in SETUP_LINES.get(code, [])]
        else:
            runs = [Command(" ".join(words), words) for words in _and_list(shlex.split(code))]
            runs[-1].comment = comment
        commands.extend(runs)
        previous = runs[-1] if runs else None


def _and_list(words: list[str]) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for word in words:
        parts.append([]) if word == "&&" else parts[-1].append(word)
    return [part for part in parts if part]


def _parse_transcript(body: str, commands: list[Command]) -> None:
    """``$ command`` lines, each followed by what it prints."""
    for chunk in re.split(r"^\$ ", body, flags=re.M)[1:]:
        text, _, expected = chunk.partition("\n")
        commands.append(Command(text.strip(), shlex.split(text), expected=expected))


MARKDOWN = README.read_text(encoding="utf-8")
SETUP, COMMANDS = parse_readme(MARKDOWN)


# ------------------------------------------------------------------------------ running


@dataclass
class Outcome:
    argv: list[str]
    code: int
    out: str
    err: str
    seconds: float
    written: list[str] = field(default_factory=list)  # files new or changed, relative to the folder
    present: list[str] = field(default_factory=list)  # every file once the command ended

    @property
    def text(self) -> str:
        return self.out + self.err


def _command_names() -> dict:
    parser = build_parser()
    return next(a.choices for a in parser._actions if a.dest == "command")


def is_window_command(words: list[str]) -> bool:
    argv = route_window_target(words[1:], _command_names())
    positional = [w for w in argv if not w.startswith("-")]
    return not positional or positional[0] == "gui"


def argv_to_run(words: list[str]) -> list[str]:
    """The arguments to run ``words`` with: as written, or with REDUCED's flags; unknown ones fail."""
    if words[:1] != ["resviz"]:
        pytest.fail(f"README command {' '.join(words)!r}: this test runs only resviz commands and the set-up "
                    f"lines in SETUP_LINES")
    if is_window_command(words):
        return words[1:]
    matches = [prefix for prefix in REDUCED if words[:len(prefix.split())] == prefix.split()]
    if matches:
        return words[1:] + shlex.split(REDUCED[max(matches, key=len)])
    if any(words[:len(prefix.split())] == prefix.split() for prefix in AS_WRITTEN):
        return words[1:]
    pytest.fail(f"README command {' '.join(words)!r} is in neither AS_WRITTEN nor REDUCED of tests/test_readme.py: "
                f"add it to AS_WRITTEN if it takes a few seconds as written, or to REDUCED with the flags that make "
                f"it do so")


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def run_command(words: list[str], folder: Path) -> Outcome:
    argv = argv_to_run(words)
    before = _snapshot(folder)
    start = time.perf_counter()
    if is_window_command(words):
        home = folder / ".home"  # the window's settings and caches stay in the test's folder
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               "QT_QPA_PLATFORM": "offscreen", "RESVIZ_QUIT_AFTER_LOAD": "1", "HOME": str(home),
               "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache"),
               "OMP_NUM_THREADS": "1"}
        result = subprocess.run([sys.executable, "-m", "resviz", *argv], cwd=folder, env=env, capture_output=True,
                                text=True, timeout=WINDOW_SECONDS)
        code, out, err = result.returncode, result.stdout, result.stderr
    else:
        out_buffer, err_buffer = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out_buffer), contextlib.redirect_stderr(err_buffer):
            code = main(argv)
        out, err = out_buffer.getvalue(), err_buffer.getvalue()
    after = _snapshot(folder)
    written = sorted(p for p, mtime in after.items() if before.get(p) != mtime and not p.startswith(".home"))
    return Outcome(argv, code, out, err, time.perf_counter() - start, written, sorted(after))


@dataclass
class Tour:
    folder: Path
    outcomes: list[Outcome | BaseException]  # one per command; what it raised if it could not run


@pytest.fixture(scope="module")
def tour(tmp_path_factory) -> Tour:
    """Every README command run once, in order, in one folder."""
    folder = tmp_path_factory.mktemp("readme")
    for name, text in shown_files(MARKDOWN).items():
        (folder / name).write_text(text, encoding="utf-8")
    outcomes: list[Outcome | BaseException] = []
    threads = torch.get_num_threads()
    # One thread: the reduced budgets gain nothing from more, and other work on a busy machine then
    # cannot stall them (threads that wait for each other on an oversubscribed CPU are ~10x slower).
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(folder)
            for command in COMMANDS:
                try:
                    outcomes.append(run_command(command.words, folder))
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001 - reported by the command's own test
                    outcomes.append(exc)
    finally:
        torch.set_num_threads(threads)
    return Tour(folder, outcomes)


# ------------------------------------------------------------------------------ claims


@dataclass
class Claim:
    pattern: str  # searched in the comment; what it matches counts as checked
    check: Callable[[re.Match, Command, Outcome, Path], None]


def _skip_counts(outcome: Outcome) -> dict[str, int]:
    match = re.search(r"(\d+) skip connections? \(([^)]*)\)", outcome.out)
    assert match, f"no skip counts in the output: {outcome.out!r}"
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) ([\w-]+)", match.group(2))}
    counts["all"] = int(match.group(1))
    return counts


def check_skip_total(match, command, outcome, folder) -> None:
    assert _skip_counts(outcome)["all"] == int(match.group(1)), outcome.out


def check_skip_kind(match, command, outcome, folder) -> None:
    kind = match.group(2).replace("_", "-")
    assert _skip_counts(outcome).get(kind, 0) == int(match.group(1)), (kind, outcome.out)


def check_shortcut_option(match, command, outcome, folder) -> None:
    from resviz.models import parse_option, resolve_options

    args = build_parser().parse_args(outcome.argv)
    options = resolve_options(args.model, dict(parse_option(text) for text in args.option))
    assert options["shortcut"] == match.group(1), options


def check_files(match, command, outcome, folder) -> None:
    path = folder / match.group(0)
    assert path.is_file() and path.stat().st_size > 0, f"{match.group(0)} was not written"
    assert match.group(0) in outcome.written, f"{match.group(0)} exists but this command did not write it"


def check_cifar_family(match, command, outcome, folder) -> None:
    rows = {line.split()[0]: line.split() for line in outcome.out.splitlines()[1:] if line.strip()}
    low, high = int(match.group(1)), int(match.group(2))
    depths = sorted(int(name[len("resnet"):]) for name in rows if name.startswith("resnet"))
    assert depths and depths[0] == low and depths[-1] == high, depths
    for depth in depths:
        assert f"plain{depth}" in rows and rows[f"resnet{depth}"][-1] == f"plain{depth}", rows[f"resnet{depth}"]


def check_vanishing(match, command, outcome, folder) -> None:
    """In the run written, the first layer's gradient norm is orders of magnitude below the last layer's
    (measured: exactly 0 against about 1e-1 for plain56 without norm layers, several seeds)."""
    from resviz.runfile import RunReader

    runs = [path for path in outcome.written if path.endswith(".resviz")]
    assert len(runs) == 1, outcome.written
    with RunReader(folder / runs[0]) as reader:
        norms = reader.read_steps().grad_norm
    first, last = np.median(norms[:, 0]), np.median(norms[:, -1])
    assert last > 0 and first < 1e-3 * last, (first, last)


def check_runs_columns(match, command, outcome, folder) -> None:
    header = outcome.out.splitlines()[0].split()
    for column in match.group(0).split(", "):
        for word in column.split():
            assert any(word.startswith(name) for name in header), (column, header)
    runs = [Path(p) for p in outcome.present if p.startswith("runs/") and p.endswith(".resviz")]
    assert runs, "no run files to list"
    for run in runs:  # every run file there was when it ran
        assert run.stem in outcome.out, f"{run.name} is not listed"


def check_recorder_defaults(match, command, outcome, folder) -> None:
    defaults = build_parser().parse_args(["bench", "recorder"])
    assert (defaults.model, defaults.batch_size) == (f"resnet{match.group(1)}", int(match.group(2))), defaults
    assert outcome.out.startswith(f"recorder overhead: resnet{match.group(1)},"), outcome.out
    assert re.search(r"^ratio: \d", outcome.out, re.M), outcome.out


def cites(match, command, outcome, folder) -> None:
    """A reference to a paper states nothing to check."""


def check_preset_count(match, command, outcome, folder) -> None:
    from resviz.presets import list_presets

    listed = [line for line in outcome.out.splitlines() if line.split()[:1] and line.split()[0] in
              {preset.name for preset in list_presets()}]
    assert len(listed) == int(match.group(1)) == len(list_presets()), outcome.out


def check_lesson_shown(match, command, outcome, folder) -> None:
    """A preset's claims all held on the (reduced) run: each printed [yes], and exit code 0; for
    ``vanishing``, the gradient ratios with the margins measured over seeds 0-2 (first/last layer:
    1e-9..1e-6 for the plain net, 0.1..1 for the residual one)."""
    assert outcome.code == 0 and "[yes]" in outcome.out and "[NO" not in outcome.out, outcome.text
    if outcome.argv[:2] == ["demo", "vanishing"]:
        from resviz.presets.vanishing import gradient_ratio

        out = Path(outcome.argv[outcome.argv.index("--out") + 1]) if "--out" in outcome.argv else Path("runs")
        plain, _, _ = gradient_ratio(folder / out / "vanishing-plain.resviz")
        residual, _, _ = gradient_ratio(folder / out / "vanishing-residual.resviz")
        assert plain < 1e-3 < 3e-2 < residual, (plain, residual)


CLAIMS = [
    Claim(r"\bthe (\d+) presets\b", check_preset_count),
    Claim(r"\bevery claim \[yes\]", check_lesson_shown),
    Claim(r"\b(\d+) skips\b", check_skip_total),
    Claim(rf"\b(\d+) (?:of them )?({'|'.join(k.replace('_', '-') for k in SKIP_KINDS)})s?\b", check_skip_kind),
    Claim(r"\(option ([AB])\)", check_shortcut_option),
    Claim(r"[\w./-]+\.(?:resviz|png|svg|json|csv)\b", check_files),
    Claim(r"ResNet-(\d+) \.\.\. (\d+) and their plain twins", check_cifar_family),
    Claim(r"watch the gradient vanish", check_vanishing),
    Claim(r"\bname, model, steps, status, best accuracy\b", check_runs_columns),
    Claim(r"recorder overhead on ResNet-(\d+), batch (\d+)", check_recorder_defaults),
    Claim(r"\b[A-Z][\w-]+ et al\.,? \d{4}\b", cites),
]


def check_claims(command: Command, outcome: Outcome, folder: Path) -> None:
    covered = list(command.comment)
    found = []
    for claim in CLAIMS:
        for match in re.finditer(claim.pattern, command.comment):
            found.append((claim, match))
            covered[match.start():match.end()] = [" "] * (match.end() - match.start())
    unchecked = "".join(covered).strip(" \t,;:+&()")
    assert not re.search(r"\w", unchecked), (
        f"README comment {command.comment!r} of {command.text!r} says something no claim checks "
        f"({unchecked!r}): add a Claim to CLAIMS in tests/test_readme.py")
    for claim, match in found:
        claim.check(match, command, outcome, folder)


def check_files_written(outcome: Outcome, folder: Path) -> None:
    """What a command says it wrote exists: its --out (one file unless --twin) and every "wrote PATH"."""
    paths = re.findall(r"^wrote (\S+)", outcome.out, re.M)
    if "--out" in outcome.argv and "--twin" not in outcome.argv and outcome.argv[0] != "demo":
        paths.append(outcome.argv[outcome.argv.index("--out") + 1])
    for path in paths:
        assert (folder / path).is_file(), f"{path} was not written"


# ------------------------------------------------------------------------------ the tests


def test_the_readme_shows_exactly_the_known_set_up_lines():
    assert sorted(SETUP) == sorted(SETUP_LINES)


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=[c.text for c in COMMANDS])
def test_readme_command(tour, index):
    command, outcome, folder = COMMANDS[index], tour.outcomes[index], tour.folder
    if isinstance(outcome, BaseException):
        raise outcome
    if command.expected is not None:
        shown = " ".join(command.expected.split())
        assert " ".join(outcome.text.split()) == shown, outcome.text
        assert outcome.code == (2 if shown.startswith("resviz: error:") else 0)
        return
    assert outcome.code == 0, f"{command.text} ({' '.join(outcome.argv)}) exited {outcome.code}:\n{outcome.text}"
    assert "Traceback" not in outcome.text, outcome.text
    check_files_written(outcome, folder)
    check_claims(command, outcome, folder)


# ------------------------------------------------------------------------------ the checks themselves


def test_reading_commands_comments_and_continuations():
    markdown = ("```bash\n# heading\nresviz graph resnet20 \\\n  --out 'a # b.png'   # 9 skips\n"
                "                         # wrote a # b.png\npip install -e . && resviz\n```\n"
                "```text\n$ resviz models --json\n[1,\n 2]\n```\n")
    setup, commands = parse_readme(markdown)
    assert setup == ["pip install -e . && resviz"]
    assert [c.words for c in commands] == [["resviz", "graph", "resnet20", "--out", "a # b.png"], ["resviz"],
                                           ["resviz", "models", "--json"]]
    assert commands[0].comment == "heading 9 skips wrote a # b.png"
    assert commands[2].expected == "[1,\n 2]\n"


def test_how_each_command_runs():
    assert argv_to_run(["resviz", "train", "x", "--steps", "200"])[-8:] == shlex.split(REDUCED["resviz train"])
    assert argv_to_run(["resviz", "graph", "resnet20"]) == ["graph", "resnet20"]
    assert is_window_command(["resviz"]) and is_window_command(["resviz", "--debug", "gui", "resnet20"])
    assert is_window_command(["resviz", "runs/mine.resviz"]) and not is_window_command(["resviz", "runs"])
    with pytest.raises(pytest.fail.Exception, match="add it to AS_WRITTEN"):
        argv_to_run(["resviz", "bench", "gui"])
    with pytest.raises(pytest.fail.Exception, match="only resviz commands"):
        argv_to_run(["make", "install"])


def test_a_claim_that_no_longer_holds_fails(tmp_path):
    outcome = Outcome(["graph", "resnet20"], 0, "wrote g.png (layers: 75 nodes, 9 skip connections "
                                                "(7 identity, 2 zero-pad))\n", "", 0.0, ["g.png"])
    (tmp_path / "g.png").write_bytes(b"png")
    check_claims(Command("", [], "9 skips: 7 identity, 2 zero-pad; g.png"), outcome, tmp_path)
    for comment in ("10 skips", "7 identity, 3 zero-pad", "1 projection", "h.png"):
        with pytest.raises(AssertionError):
            check_claims(Command("", [], comment), outcome, tmp_path)
    with pytest.raises(AssertionError, match="add a Claim"):
        check_claims(Command("", [], "9 skips, and faster than light"), outcome, tmp_path)
