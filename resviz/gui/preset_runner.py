"""Runs one of the seeds' experiments (``resviz demo NAME``) in a child process for the window.

The child writes ordinary run files into the runs folder (the runs panel shows them while
they grow); when it ends, ``preset_finished`` carries what it printed (the numbers and the
claims) and the run files it wrote, so the window can open them side by side.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal

_RUN_LINE = re.compile(r"^run file \((?P<label>[^)]*)\): (?P<path>.+)$")


def run_files_in(output: str) -> list[Path]:
    """The run files a ``resviz demo`` printed, in the order it printed them."""
    return [Path(m.group("path").strip()) for line in output.splitlines() if (m := _RUN_LINE.match(line.strip()))]


class PresetRunner(QObject):
    preset_started = Signal(str)                     # name
    preset_finished = Signal(str, int, str, list)    # name, exit code, printed text, [run file paths]

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._name = ""

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self, name: str, folder: Path, *, quick: bool = False) -> None:
        if self._process is not None:
            return
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.SeparateChannels)
        arguments = ["-m", "resviz", "demo", name, "--out", str(folder), "--quiet"] + (["--quick"] if quick else [])
        process.finished.connect(self._finished)
        self._process, self._name = process, name
        process.start(sys.executable, arguments)
        self.preset_started.emit(name)

    def stop(self) -> None:
        """End the child (its run files are kept and marked stopped by its signal handling)."""
        process = self._process
        if process is not None:
            process.terminate()
            if not process.waitForFinished(3000):
                process.kill()
                process.waitForFinished(1000)

    def _finished(self, code: int, _status) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        out = bytes(process.readAllStandardOutput()).decode(errors="replace")
        err = bytes(process.readAllStandardError()).decode(errors="replace")
        text = out.strip()
        errors = [line for line in err.splitlines() if line.startswith("resviz:")]
        if errors:
            text = (text + "\n\n" if text else "") + "\n".join(errors)
        self.preset_finished.emit(self._name, int(code), text, run_files_in(out))
        process.deleteLater()
