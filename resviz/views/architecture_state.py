"""What an architecture view shows: the level of detail, expanded and collapsed blocks, folded
repeats and the selected module — one object that the views showing the same thing share.

Names are module qualified names (``layer2.0``) or op ids (``layer2.0.add``), so a plain
network and its residual twin can share one state: each model draws what the state names and
ignores what it does not have. Every change emits its field's event; ``shown`` follows once
any change to what is drawn (level, expansions, fold) is complete, with the new ``ShownState``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from ..errors import ResvizError
from ..graph.blocks import LEVELS
from .events import EmitterGroup


class ShownState(NamedTuple):
    """What a grouping of the graph depends on; a drawing remembers the one it was made for."""

    level: str
    expanded: tuple[str, ...] = ()
    collapsed: tuple[str, ...] = ()
    fold: bool = False


def ancestors_of(name: str) -> list[str]:
    """``layer1.0.conv1`` -> ``["layer1.0", "layer1"]``: the modules that hold a name, innermost first."""
    out = []
    while "." in name:
        name = name.rpartition(".")[0]
        out.append(name)
    return out


class ArchitectureViewState:
    """The shared truth of what is shown. Events: ``level(str)``, ``fold(bool)``,
    ``expansions(str | None)`` (the module expanded or collapsed; None for a reset),
    ``selected(str | None)`` and ``shown(ShownState)``."""

    def __init__(self, level: str = "blocks", fold: bool = False) -> None:
        self.events = EmitterGroup("level", "fold", "expansions", "selected", "shown")
        self._level = _checked_level(level)
        self._level_chosen = False
        self._fold = bool(fold)
        self._expanded: tuple[str, ...] = ()
        self._collapsed: tuple[str, ...] = ()
        self._selected: str | None = None
        self._defaults: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._depth = 0
        self._before: ShownState | None = None

    # reading --------------------------------------------------------------------------------

    @property
    def level(self) -> str:
        return self._level

    @level.setter
    def level(self, level: str) -> None:
        self.set_level(level)

    @property
    def level_chosen(self) -> bool:
        """Whether the level was chosen (kept for a new graph) rather than a graph's default."""
        return self._level_chosen

    @property
    def chosen_level(self) -> str | None:
        """The level a new graph opens at, when the user chose one."""
        return self._level if self._level_chosen else None

    @property
    def fold(self) -> bool:
        return self._fold

    @fold.setter
    def fold(self, fold: bool) -> None:
        fold = bool(fold)
        if fold == self._fold:
            return
        with self.changing():
            self._fold = fold
            self.events.fold.emit(fold)

    @property
    def expanded(self) -> tuple[str, ...]:
        return self._expanded

    @property
    def collapsed(self) -> tuple[str, ...]:
        return self._collapsed

    @property
    def selected(self) -> str | None:
        return self._selected

    @selected.setter
    def selected(self, name: str | None) -> None:
        name = name or None
        if name == self._selected:
            return
        self._selected = name
        self.events.selected.emit(name)

    def shown(self) -> ShownState:
        return ShownState(self._level, self._expanded, self._collapsed, self._fold)

    # writing --------------------------------------------------------------------------------

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Group changes: ``shown`` is emitted once, at the end, if what is drawn changed."""
        if self._depth == 0:
            self._before = self.shown()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self.shown() != self._before:
                self.events.shown.emit(self.shown())

    def set_level(self, level: str, *, chosen: bool = True) -> None:
        """Draw every block at ``level`` (one of ``resviz.graph.LEVELS``); clears single expansions.
        A ``chosen`` level is kept when a new graph is drawn."""
        level = _checked_level(level)
        with self.changing():
            self._level_chosen = self._level_chosen or chosen
            self._set_expansions((), (), None)
            if level != self._level:
                self._level = level
                self.events.level.emit(level)

    def propose_default(self, owner: Any, level: str) -> None:
        """A graph's default level (big models open collapsed). Unless the user chose a level,
        the state shows the finest of its graphs' defaults, so twins line up box for box."""
        self._defaults[owner] = _checked_level(level)
        if not self._level_chosen:
            finest = max(self._defaults.values(), key=LEVELS.index)
            if finest != self._level:
                with self.changing():
                    self._level = finest
                    self.events.level.emit(finest)

    def withdraw_default(self, owner: Any) -> None:
        """``owner``'s graph is being replaced: its old default no longer counts."""
        self._defaults.pop(owner, None)

    def expand(self, module: str) -> None:
        """Show the children of ``module``."""
        expanded = self._expanded if module in self._expanded else (*self._expanded, module)
        self._set_expansions(expanded, tuple(c for c in self._collapsed if c != module), module)

    def collapse(self, module: str) -> None:
        """Draw ``module`` as one box (what was expanded inside it closes too)."""
        inside = module + "."
        expanded = tuple(e for e in self._expanded if e != module and not e.startswith(inside))
        collapsed = self._collapsed if module in self._collapsed else (*self._collapsed, module)
        self._set_expansions(expanded, collapsed, module)

    def reveal(self, module: str) -> None:
        """Expand the blocks around ``module`` so it gets a box of its own (a folded run hides
        which block is which, so folding is turned off)."""
        around = {module, *ancestors_of(module)}
        with self.changing():
            self.fold = False
            expanded = self._expanded if module in self._expanded else (*self._expanded, module)
            self._set_expansions(expanded, tuple(c for c in self._collapsed if c not in around), None)

    def reset_expansions(self) -> None:
        self._set_expansions((), (), None)

    def restore(self, shown: ShownState) -> None:
        """Go back to ``shown`` (a drawing's state: a cancelled re-layout puts the controls back)."""
        with self.changing():
            if shown.level != self._level:
                self._level = _checked_level(shown.level)
                self.events.level.emit(self._level)
            self.fold = shown.fold
            self._set_expansions(tuple(shown.expanded), tuple(shown.collapsed), None)

    def _set_expansions(self, expanded: tuple[str, ...], collapsed: tuple[str, ...], focus: str | None) -> None:
        if (expanded, collapsed) == (self._expanded, self._collapsed):
            return
        with self.changing():
            self._expanded, self._collapsed = expanded, collapsed
            self.events.expansions.emit(focus)


def _checked_level(level: str) -> str:
    if level not in LEVELS:
        raise ResvizError(f"level {level!r} is not one of {', '.join(LEVELS)}")
    return level
