"""A small, Qt-free event mechanism for the view models (after napari's evented models).

A view model owns an ``EmitterGroup``; each of its fields has an ``EventEmitter`` that fires
when the field changes. Widgets connect to the emitters they show and write user actions back
to the model, so the model never knows which widgets (or none) listen.

    events = EmitterGroup("level", "selected")
    events.level.connect(lambda level: print("now at", level))
    events.level.emit("blocks")

A bound method is held weakly: a widget that is gone stops being called without having to
disconnect. Other callables (lambdas, functions) are held as given.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import MethodType
from typing import Any

Callback = Callable[..., Any]


class EventEmitter:
    """One kind of event: ``emit(*args)`` calls every connected callback, in connection order."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._callbacks: list[Callback | weakref.WeakMethod] = []
        self._blocked = 0

    def connect(self, callback: Callback) -> Callback:
        """Call ``callback`` on every emit (once, however often it is connected); returns it."""
        if not callable(callback):
            raise TypeError(f"event {self.name!r}: {callback!r} is not callable")
        if callback not in self.callbacks():
            self._callbacks.append(weakref.WeakMethod(callback) if isinstance(callback, MethodType) else callback)
        return callback

    def disconnect(self, callback: Callback | None = None) -> None:
        """Stop calling ``callback`` (every callback when None); unknown callbacks are ignored."""
        if callback is None:
            self._callbacks.clear()
            return
        self._callbacks = [entry for entry in self._callbacks if self._resolve(entry) not in (None, callback)]

    def callbacks(self) -> list[Callback]:
        """The callbacks connected now (those of collected objects left out)."""
        return [callback for entry in self._callbacks if (callback := self._resolve(entry)) is not None]

    def emit(self, *args: Any) -> None:
        """Call each callback with ``args``; a callback connected or disconnected meanwhile
        takes effect from the next emit."""
        if self._blocked:
            return
        dead = False
        for entry in list(self._callbacks):
            callback = self._resolve(entry)
            if callback is None:
                dead = True
                continue
            callback(*args)
        if dead:
            self._callbacks = [entry for entry in self._callbacks if self._resolve(entry) is not None]

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """Emit nothing inside the block."""
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1

    @staticmethod
    def _resolve(entry: Callback | weakref.WeakMethod) -> Callback | None:
        return entry() if isinstance(entry, weakref.WeakMethod) else entry

    def __repr__(self) -> str:
        return f"EventEmitter({self.name!r}, {len(self.callbacks())} callbacks)"


class EmitterGroup:
    """A model's events, one ``EventEmitter`` attribute per name: ``events.level.connect(...)``."""

    def __init__(self, *names: str) -> None:
        self._names = tuple(names)
        for name in names:
            if not name.isidentifier() or name.startswith("_") or hasattr(self, name):
                raise ValueError(f"event name {name!r} is not usable as an attribute")
            setattr(self, name, EventEmitter(name))

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def __iter__(self) -> Iterator[EventEmitter]:
        return (getattr(self, name) for name in self._names)

    def __getattr__(self, name: str) -> EventEmitter:  # only reached for names the group lacks
        known = ", ".join(self.__dict__.get("_names", ()))
        raise AttributeError(f"no event {name!r}; the events are {known}")

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """Emit none of the group's events inside the block."""
        emitters = list(self)
        for emitter in emitters:
            emitter._blocked += 1
        try:
            yield
        finally:
            for emitter in emitters:
                emitter._blocked -= 1
