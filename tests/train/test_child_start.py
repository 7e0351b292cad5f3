"""Training children fork from a server that has imported the trainer, and still start with the
window's working directory and environment of the moment the run starts."""

from __future__ import annotations

import os
import sys

import pytest

from resviz.train.child_start import ParentState, start_method, training_context, warm_up


def report(connection, parent: ParentState) -> None:
    preloaded = "resviz.train.trainer" in sys.modules   # before this child imported anything itself
    parent.apply()
    connection.send({"preloaded": preloaded, "ppid": os.getppid(), "cwd": os.getcwd(),
                     "mark": os.environ.get("RESVIZ_CHILD_START_MARK")})
    connection.close()


def _child_report(context) -> dict:
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=report, args=(send, ParentState()), daemon=True)
    process.start()
    send.close()
    assert receive.poll(60), "the child sent nothing"
    message = receive.recv()
    process.join(10)
    assert process.exitcode == 0
    return message


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="children fork from a server on Linux only")
def test_children_fork_from_a_server_with_the_trainer_imported_and_the_parents_cwd_and_environment(
        tmp_path, monkeypatch):
    assert start_method() == "forkserver"
    thread = warm_up()
    assert thread is not None
    thread.join(60)
    context = training_context()
    _child_report(context)   # the server is up before the window's state changes below
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RESVIZ_CHILD_START_MARK", "set after the server started")
    message = _child_report(context)
    assert message["preloaded"]                 # its imports were done before it started
    assert message["ppid"] != os.getpid()       # forked by the server, not by this process
    assert message["cwd"] == str(tmp_path)
    assert message["mark"] == "set after the server started"


def test_parent_state_replaces_the_childs_directory_and_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RESVIZ_CHILD_START_MARK", "parent")
    state = ParentState()
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.setenv("RESVIZ_CHILD_START_MARK", "server")
    monkeypatch.setenv("RESVIZ_ONLY_IN_THE_SERVER", "1")
    state.apply()
    assert os.getcwd() == str(tmp_path)
    assert os.environ["RESVIZ_CHILD_START_MARK"] == "parent" and "RESVIZ_ONLY_IN_THE_SERVER" not in os.environ
