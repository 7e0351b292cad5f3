"""The window: the only part of resviz that imports Qt."""

from __future__ import annotations

import sys


def _guard_singleton_refcounts() -> bool:
    """Keep ``None``, ``True`` and ``False`` alive under Qt bindings that return them without a reference.

    Some PySide6 releases (6.12 seen) return ``None`` for a null C++ pointer (``parent()``,
    ``parentItem()``, ``scene()``, ...) without taking a reference to it, so every such call
    lowers None's reference count by one; a paint of a pyqtgraph plot loses references to
    ``True`` the same way. On CPython before 3.12, where these are ordinary objects (a few
    thousand references at start), the window would abort with "deallocating None" (or True)
    within a minute of live plotting. The binding is probed once; only when it drops references
    are the three singletons given a count they cannot exhaust, which is what CPython 3.12
    does for every interpreter (immortal objects).
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython" or hasattr(sys, "gettotalrefcount"):
        return False
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(8):
        probe.parent()
    if sys.getrefcount(None) >= before:
        return False  # this binding counts None correctly
    import ctypes

    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 48  # ob_refcnt: the first field of an object
    return True


SINGLETONS_GUARDED = _guard_singleton_refcounts()
