"""Hooks that never outlive their use: every one is removed in ``finally``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn
from torch.utils.hooks import RemovableHandle


@contextmanager
def forward_hooks(modules: Iterable[nn.Module], pre: Callable[..., Any], post: Callable[..., Any], *,
                  with_kwargs: bool = True) -> Iterator[None]:
    """Forward pre- and post-hooks on ``modules`` (given keyword arguments too, with
    ``with_kwargs``), removed on exit, also when registering one of them fails."""
    handles: list[RemovableHandle] = []
    try:
        for module in modules:
            handles.append(module.register_forward_pre_hook(pre, with_kwargs=with_kwargs))
            handles.append(module.register_forward_hook(post, with_kwargs=with_kwargs))
        yield
    finally:
        for handle in handles:
            handle.remove()


def hook_count(model: nn.Module) -> int:
    """Forward and backward hooks left on any module of ``model`` (tests use it: it must be 0)."""
    total = 0
    for module in model.modules():
        for attribute in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                          "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs"):
            total += len(getattr(module, attribute, {}) or {})
    return total
