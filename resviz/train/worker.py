"""The training host the window uses: training in a child process, steered over a control channel.

``TrainingProcess(config)`` starts a child that trains into the run file: forked from a server
that has already imported the trainer, never from the window, so no state is copied from it and
it is safe with CUDA and Qt (``child_start``; a fresh ``spawn``-ed interpreter off Linux). Two
one-way pipes connect them; only plain data crosses:

- control, parent to child: ``"pause"``, ``"resume"``, ``"stop"``;
- messages, child to parent: dicts with a ``kind`` of ``started`` (run file, layer and
  block ids, classes, device), ``progress`` (the fields of ``TrainProgress``), ``finished``
  (status: finished or stopped) or ``failed`` (the error text).

A crash of the child (an exception, out of memory, ``os._exit``, a segfault, a kill) never
reaches the window: the parent sees the pipe close, reports ``failed`` with the exit code,
and marks the run file failed if the child could not. The window reads the numbers from the
run file itself, so a message lost in a crash loses nothing recorded.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import threading
import time
from typing import Any

from ..errors import ResvizError, describe_exception
from .child_start import ParentState, training_context
from .config import TrainConfig

FINAL_KINDS = ("finished", "failed")
CONTROL_COMMANDS = ("pause", "resume", "stop")


class TrainingProcess:
    """Trains ``config`` in a child process; ``poll()`` for messages, ``pause/resume/stop`` to steer."""

    def __init__(self, config: TrainConfig, *, threads: int | None = None) -> None:
        config = config.validate()
        # Fix the run file's name now, so the parent knows it before the child starts.
        self.path = config.run_path()
        self.config = config.replace(out=str(self.path))
        self.threads = threads
        self._context = training_context()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._control = None
        self._messages = None
        self.final: dict[str, Any] | None = None
        self.started: dict[str, Any] | None = None
        self.last_progress: dict[str, Any] | None = None
        self.state = "created"   # created, running, paused, finished, stopped, failed
        self.ending: str | None = None  # why the parent is ending the child (it then ends as stopped)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> TrainingProcess:
        if self._process is not None:
            raise ResvizError("this training process was already started; make a new one")
        control_child, self._control = self._context.Pipe(duplex=False)
        self._messages, messages_child = self._context.Pipe(duplex=False)
        self._process = self._context.Process(
            target=child_main,
            args=(self.config.to_dict(), control_child, messages_child, self.threads, ParentState()),
            name=f"resviz-train-{self.path.stem}", daemon=True)
        self._process.start()
        # Only the child holds these ends now, so a dead child shows as end-of-file here.
        control_child.close()
        messages_child.close()
        self.state = "running"
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode if self._process is not None else None

    @property
    def done(self) -> bool:
        return self.final is not None

    # ------------------------------------------------------------------ control

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def stop(self) -> None:
        self._send("stop")

    def _send(self, command: str) -> None:
        if self._control is None or self.done:
            return
        try:
            self._control.send(command)
        except (OSError, EOFError, BrokenPipeError):
            pass  # the child is gone; poll() reports how it ended

    # ------------------------------------------------------------------ messages

    def poll(self, timeout: float = 0.0) -> list[dict[str, Any]]:
        """The messages that arrived (waiting up to ``timeout`` seconds for the first)."""
        if self._messages is None or self.final is not None:
            return []
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                ready = self._messages.poll(max(0.0, deadline - time.monotonic()) if not received else 0)
                if not ready:
                    break
                message = self._messages.recv()
            except (EOFError, OSError):
                received.extend(self._child_gone())
                break
            self._note(message)
            received.append(message)
            if message.get("kind") in FINAL_KINDS:
                break
        if self.final is None and not received and self._process is not None and not self._process.is_alive():
            received.extend(self._child_gone())
        return received

    def _note(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "started":
            self.started = message
        elif kind == "progress":
            self.last_progress = message
            phase = message.get("phase")
            if phase in ("paused", "train", "eval"):
                self.state = "paused" if phase == "paused" else "running"
        elif kind in FINAL_KINDS:
            self.final = message
            self.state = message.get("status", "failed") if kind == "finished" else "failed"

    def _child_gone(self) -> list[dict[str, Any]]:
        """The child ended without its final message: report it and mark the run file."""
        if self.final is not None:
            return []
        self._process.join(timeout=5.0)
        code = self._process.exitcode
        if self.ending is not None:  # ended on purpose (the window closed): a stop, not a failure
            self._mark_run("stopped", self.ending)
            final = {"kind": "finished", "status": "stopped", "error": self.ending, "path": str(self.path),
                     "exitcode": code}
            self._note(final)
            return [final]
        message = f"the training process {describe_exit(code)}"
        self._mark_run("failed", message)
        final = {"kind": "failed", "error": message, "path": str(self.path), "exitcode": code}
        self._note(final)
        return [final]

    def _mark_run(self, status: str, message: str) -> bool:
        """Mark the child's run file ``status``, unless the child finished it or never wrote one."""
        from ..runfile import mark_run_ended

        try:
            return mark_run_ended(self.path, status, message, pid=self.pid)
        except ResvizError:
            return False  # no run file yet, or not one the window can mark: nothing recorded to keep

    def wait(self, timeout: float | None = None) -> dict[str, Any] | None:
        """Collect messages until the final one (or ``timeout``); returns it, or None."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.final is None:
            remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if remaining <= 0:
                break
            self.poll(remaining)
        if self.final is not None and self._process is not None:
            self._process.join(timeout=10.0)
        return self.final

    # ------------------------------------------------------------------ shutdown

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop at the next step boundary; terminate, then kill, a child that does not end in time."""
        if self._process is None:
            return
        if self._process.is_alive():
            self.stop()
            self.wait(timeout)
        if self._process.is_alive():
            self._process.terminate()  # SIGTERM: the child marks its run stopped and exits
            self._process.join(timeout=3.0)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=3.0)
        if self.final is None:
            self.poll()
        for connection in (self._control, self._messages):
            if connection is not None:
                connection.close()
        self._control = self._messages = None

    def __enter__(self) -> TrainingProcess:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"TrainingProcess({self.config.model} -> {self.path}, {self.state})"


def end_processes(processes: list[TrainingProcess], seconds: float = 1.2,
                  reason: str = "stopped when the window closed") -> None:
    """End every child within about ``seconds``, all at once: a stop at the next step, then SIGTERM
    (the child ends its run file as stopped), then SIGKILL. The run of a child killed before it
    could end its file is marked stopped here, with ``reason``; every step it committed stays."""
    started = time.monotonic()
    alive = [p for p in processes if p._process is not None and p.is_alive()]
    for process in alive:
        process.ending = reason
        process.stop()
    for share, action in ((0.45, "terminate"), (0.4, "kill")):
        _drain_until(alive, started + share * seconds if action == "terminate" else started + 0.85 * seconds)
        for process in alive:
            if process.is_alive():
                getattr(process._process, action)()
    for process in processes:
        if process._process is not None:
            process._process.join(timeout=max(0.1, started + seconds - time.monotonic()))
        if process.final is None:
            process.poll()  # reads the last messages, or marks the run of a killed child
        for connection in (process._control, process._messages):
            if connection is not None:
                connection.close()
        process._control = process._messages = None


def _drain_until(processes: list[TrainingProcess], deadline: float) -> None:
    """Read the children's messages (a full pipe would block a child) until all ended or ``deadline``."""
    while time.monotonic() < deadline and any(p.is_alive() for p in processes):
        for process in processes:
            process.poll(0.0)
        time.sleep(0.02)


def start_twins(config: TrainConfig, *, threads: int | None = None) -> tuple[TrainingProcess, TrainingProcess]:
    """Start the plain and the residual twin, each in its own process and run file.

    Same seed, same data order. On the CPU each gets half the cores unless ``threads`` says.
    """
    from .device import choose_device
    from .twins import twin_configs

    plain, residual = twin_configs(config)
    if threads is None and choose_device(config.device).type == "cpu":
        threads = max(1, (os.cpu_count() or 2) // 2)
    processes = (TrainingProcess(plain, threads=threads), TrainingProcess(residual, threads=threads))
    for process in processes:
        process.start()
    return processes


def describe_exit(code: int | None) -> str:
    if code is None:
        return "is still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = {"SIGKILL": " (killed; out of memory?)", "SIGSEGV": " (crashed)", "SIGABRT": " (aborted)"}.get(name, "")
        return f"was ended by {name}{hint}"
    return f"exited with code {code} before finishing"


# ---------------------------------------------------------------------- the child


def child_main(config_data: dict[str, Any], control, messages, threads: int | None = None,
               parent: ParentState | None = None) -> None:
    """Entry point of the child process: train, report, never let an error pass silently."""
    from .control import StopSignals, TrainingControl

    if parent is not None:
        parent.apply()
        if not threads and parent.environ.get("OMP_NUM_THREADS", "").isdigit():
            threads = int(parent.environ["OMP_NUM_THREADS"])  # read at import by a spawned child

    control_state = TrainingControl()
    send_lock = threading.Lock()

    def send(kind: str, **data: Any) -> None:
        try:
            with send_lock:
                messages.send({"kind": kind, **data})
        except (OSError, EOFError, BrokenPipeError):
            control_state.stop()  # the window is gone: stop cleanly, the run file stays complete

    def read_control() -> None:
        while True:
            try:
                command = control.recv()
            except (EOFError, OSError):
                control_state.stop()
                return
            if command in CONTROL_COMMANDS:
                getattr(control_state, command)()

    # SIGTERM (from shutdown()) and SIGHUP (a closed terminal) stop the run as Ctrl+C does, with
    # every step it recorded. For the rest of this process's life.
    StopSignals(control_state).install()
    threading.Thread(target=read_control, name="resviz-control", daemon=True).start()
    path = str(config_data.get("out"))
    try:
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        from .trainer import Trainer

        config = TrainConfig.from_dict(config_data)
        trainer = Trainer(config, control=control_state, on_start=lambda info: send("started", **info),
                          on_progress=lambda progress: send("progress", **dataclasses.asdict(progress)))
        result = trainer.run()
        if result.status == "failed":
            send("failed", error=result.error, path=path, steps=result.steps)
        else:
            send("finished", status=result.status, steps=result.steps, epochs=result.epochs, path=path,
                 final_accuracy=result.final_accuracy)
    except KeyboardInterrupt as exc:
        send("finished", status="stopped", path=path, error=str(exc) or "interrupted")
    except ResvizError as exc:
        send("failed", error=str(exc), path=path)
    except BaseException as exc:  # noqa: BLE001 - reported to the window, never raised into it
        send("failed", error=describe_exception(exc), path=path)
    finally:
        try:
            messages.close()
        except OSError:
            pass
