"""The window: the only part of resviz that imports Qt."""

from __future__ import annotations

import sys


def _guard_none_refcount() -> bool:
    """Keep Python's ``None`` alive under Qt bindings that return it without a reference.

    Some PySide6 releases (6.12 seen) return ``None`` for a null C++ pointer (``parent()``,
    ``parentItem()``, ``scene()``, ...) without taking a reference to it, so every such call
    lowers None's reference count by one. pyqtgraph makes these calls on every paint; on
    CPython before 3.12, where None is an ordinary object (about 5,000 references at start),
    the window would abort with "deallocating None" within minutes. The binding is probed
    once; only when it drops references is None given a reference count it cannot exhaust,
    which is what CPython 3.12 does for every interpreter (immortal objects).
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

    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 48  # ob_refcnt is the first field of every object
    return True


NONE_REFCOUNT_GUARDED = _guard_none_refcount()
