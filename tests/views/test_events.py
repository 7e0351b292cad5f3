"""The view models' event mechanism."""

from __future__ import annotations

import gc

import pytest

from resviz.views.events import EmitterGroup, EventEmitter


def test_connect_emit_disconnect():
    emitter = EventEmitter("level")
    calls: list = []

    def first(value):
        calls.append(("first", value))

    def second(value):
        calls.append(("second", value))

    assert emitter.connect(first) is first
    emitter.connect(second)
    emitter.connect(first)  # connected once, however often connected
    emitter.emit("blocks")
    assert calls == [("first", "blocks"), ("second", "blocks")]
    emitter.disconnect(first)
    emitter.disconnect(lambda value: None)  # unknown: ignored
    emitter.emit("layers")
    assert calls[-1] == ("second", "layers") and len(calls) == 3
    with emitter.blocked():
        emitter.emit("stages")
    assert len(calls) == 3
    emitter.disconnect()
    emitter.emit("stages")
    assert len(calls) == 3 and emitter.callbacks() == []
    with pytest.raises(TypeError, match="not callable"):
        emitter.connect("nope")


def test_a_callback_connected_while_emitting_waits_for_the_next_emit():
    emitter = EventEmitter()
    calls: list = []

    def late():
        calls.append("late")

    def connecting():
        calls.append("connecting")
        emitter.connect(late)

    emitter.connect(connecting)
    emitter.emit()
    assert calls == ["connecting"]
    emitter.emit()
    assert calls == ["connecting", "connecting", "late"]


def test_bound_methods_are_held_weakly():
    class Listener:
        def __init__(self):
            self.seen = []

        def on_event(self, value):
            self.seen.append(value)

    emitter = EventEmitter()
    kept, dropped = Listener(), Listener()
    emitter.connect(kept.on_event)
    emitter.connect(dropped.on_event)
    del dropped
    gc.collect()
    emitter.emit(1)
    assert kept.seen == [1] and emitter.callbacks() == [kept.on_event]
    emitter.disconnect(kept.on_event)
    assert emitter.callbacks() == []


def test_emitter_group():
    events = EmitterGroup("level", "fold")
    seen: list = []
    events.level.connect(seen.append)
    events.fold.connect(seen.append)
    assert events.names == ("level", "fold") and [e.name for e in events] == ["level", "fold"]
    with events.blocked():
        events.level.emit("blocks")
        events.fold.emit(True)
    events.fold.emit(False)
    assert seen == [False]
    with pytest.raises(AttributeError, match="no event 'levels'; the events are level, fold"):
        events.levels  # noqa: B018 - the attribute access is what is tested
    with pytest.raises(ValueError):
        EmitterGroup("names")
