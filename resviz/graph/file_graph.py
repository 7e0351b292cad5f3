"""The module tree of a graph read from a file (ONNX, torch.export), rebuilt from its ops' scopes.

A traced model has its modules; a graph read from a file only has each op's scope (the
qualified name of the module that ran it, and sometimes its class). ``ScopeTree`` collects
those scopes into the ``ModuleInfo`` the op graph builder and the block graph use, so
skips, blocks, levels, folding and drawing work on file graphs unchanged.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from .opgraph import ModuleInfo

CONTAINER_TYPES = frozenset({"Sequential", "ModuleList", "ModuleDict"})
SCOPE_TYPE = "Block"  # the class of a scope whose class the file does not record


class ScopeTree:
    """Scopes (module qualified names, ``""`` the model), their classes and what runs in them."""

    def __init__(self, root_type: str) -> None:
        self.types: dict[str, str] = {"": root_type}
        self.children: dict[str, list[str]] = {"": []}
        self.leaves: set[str] = set()
        self.containers: set[str] = set()
        self.own_params: dict[str, int] = defaultdict(int)
        self.own_ops: dict[str, list[str]] = defaultdict(list)  # for the structure digest (folding)

    def add(self, qualname: str, type_name: str | None = None, *, leaf: bool = False) -> str:
        """Make ``qualname`` and every dotted prefix of it a scope (blocks read ancestors by dots)."""
        if qualname and qualname not in self.types:
            parent = qualname.rpartition(".")[0]
            self.add(parent)
            self.types[qualname] = SCOPE_TYPE
            self.children[qualname] = []
            self.children[parent].append(qualname)
        if type_name:
            self.types[qualname] = type_name
            if type_name in CONTAINER_TYPES:
                self.containers.add(qualname)
        if leaf and qualname:
            self.leaves.add(qualname)
        return qualname

    def record_op(self, scope: str, op: str, params: int, param_shapes: list[tuple[int, ...]]) -> None:
        self.own_params[scope] += params
        self.own_ops[scope].append(f"{op}{param_shapes}")

    def module_info(self) -> ModuleInfo:
        params: dict[str, int] = {}
        signatures: dict[str, str] = {}
        for name in sorted(self.types, key=lambda n: -n.count(".") if n else 1):  # children first, root last
            kids = self.children[name]
            params[name] = self.own_params.get(name, 0) + sum(params[c] for c in kids)
            digest = hashlib.blake2b(digest_size=8)
            digest.update(f"{self.types[name]}:{';'.join(self.own_ops.get(name, []))}".encode())
            for child in kids:
                digest.update(f"{child.rpartition('.')[2]}={signatures[child]};".encode())
            signatures[name] = digest.hexdigest()
        return ModuleInfo(names={}, types=dict(self.types), children={k: list(v) for k, v in self.children.items()},
                          params=params, signatures=signatures, leaves=set(self.leaves),
                          containers=set(self.containers))


def scope_from_path(segments: list[str]) -> str:
    """A qualified name from an exporter's scope segments: ``["layer1", "layer1.0", "conv1"]``
    (each segment either the full name so far or one more attribute) -> ``"layer1.0.conv1"``."""
    qualname = ""
    for segment in segments:
        if not segment:
            continue
        if qualname and segment.startswith(qualname + "."):
            qualname = segment
        elif qualname:
            qualname = f"{qualname}.{segment}"
        else:
            qualname = segment
    return qualname


def class_name(type_path: object) -> str:
    """``torch.nn.modules.conv.Conv2d`` (or the class itself) -> ``Conv2d``."""
    return str(getattr(type_path, "__name__", type_path)).rpartition(".")[2]


def is_torch_layer(type_path: object) -> bool:
    """PyTorch's own modules, containers aside, are layers (the tracers' leaf rule, by class path)."""
    path = f"{getattr(type_path, '__module__', '')}.{class_name(type_path)}" if isinstance(type_path, type) \
        else str(type_path)
    return (path.startswith("torch.nn.") or path.startswith("torch.ao.nn.")) and class_name(type_path) not in \
        CONTAINER_TYPES

