"""``OpGraph``: the op-level graph a tracer makes of a model, and the builder both tracers share.

Node ids are module qualified names (``layer2.0.conv1``) for calls of leaf modules and
``<module>.<op>`` (``layer2.0.add``) for function ops, the module being the one whose
``forward`` made the call. A module called twice gets ``name:1`` for its second call; a
second ``add`` in one module is ``add_1`` (as torch.fx names them). ``nn.Identity`` leaves
get no node (their input goes straight to their consumers); they stay in the module tree.

Node attributes: ``id``, ``kind`` ("module", "function", "input" or "output"), ``op`` (the
module's class name, or the function's name: ``add``, ``cat``, ``pad``), ``module`` (the
qualified name of the module the node belongs to: the called module itself, or the module
whose forward called the function), ``module_type`` (that module's class name), ``shape``
(output shape: a tuple, or a list of tuples for several tensors), ``params`` (parameter
count), ``flops`` (two per multiply-add, for the example input's batch; None where unknown),
``order`` (execution order) and ``fx_name`` (the torch.fx node, when fx traced it).
Edge attribute ``index``: the position of the tensor among the consumer's inputs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from torch import nn

from .ops import is_leaf_module, is_no_op_module

INPUT, OUTPUT, MODULE, FUNCTION = "input", "output", "module", "function"


@dataclass
class ModuleInfo:
    """What the graph needs to know about a model's module tree, collected once per trace."""

    names: dict[int, str]  # id(module) -> qualified name (first name, as named_modules gives it)
    types: dict[str, str]  # qualified name -> class name
    children: dict[str, list[str]]  # qualified name -> direct children's qualified names
    params: dict[str, int]  # qualified name -> parameters in its subtree
    signatures: dict[str, str]  # qualified name -> digest of structure (class, options, shapes), for folding
    leaves: set[str]  # modules drawn as one op (PyTorch's own layers)
    containers: set[str] = field(default_factory=set)  # Sequential, ModuleList, ModuleDict (and subclasses)
    modules: dict[str, nn.Module] = field(default_factory=dict)  # the modules themselves, for this trace only
    leaf_params: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # leaf -> (id, numel) of its tensors
    no_ops: set[str] = field(default_factory=set)  # leaves that return their input (Identity): no node


def collect_module_info(model: nn.Module) -> ModuleInfo:
    names: dict[int, str] = {}
    types: dict[str, str] = {}
    children: dict[str, list[str]] = {}
    modules: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        names[id(module)] = name
        types[name] = type(module).__name__
        modules[name] = module
        children[name] = []
    for name in modules:
        if name:
            parent = name.rpartition(".")[0]
            children.setdefault(parent, []).append(name)
    params: dict[str, int] = {}
    signatures: dict[str, str] = {}
    own: dict[str, list[tuple[int, int]]] = {
        name: [(id(p), p.numel()) for p in module.parameters(recurse=False)] for name, module in modules.items()}
    all_ids = [pid for entries in own.values() for pid, _ in entries]
    tied = len(all_ids) != len(set(all_ids))  # one tensor in several modules: count it once everywhere
    subtree_ids: dict[str, set[int]] = {}
    numel = {pid: n for entries in own.values() for pid, n in entries}
    for name in reversed(list(modules)):  # children come after their parent in named_modules
        module = modules[name]
        if tied:
            ids = {pid for pid, _ in own[name]}
            for child in children[name]:
                ids |= subtree_ids[child]
            subtree_ids[name] = ids
            params[name] = sum(numel[pid] for pid in ids)
        else:
            params[name] = sum(n for _, n in own[name]) + sum(params[c] for c in children[name])
        digest = hashlib.blake2b(digest_size=8)
        try:
            extra = module.extra_repr()
        except Exception:  # noqa: BLE001 - a user's extra_repr must not break tracing
            extra = ""
        digest.update(f"{type(module).__qualname__}({extra})".encode())
        for pname, p in module.named_parameters(recurse=False):
            digest.update(f"{pname}:{tuple(p.shape)}".encode())
        for bname, b in module.named_buffers(recurse=False):
            digest.update(f"{bname}:{tuple(b.shape)}".encode())
        for child in children[name]:
            digest.update(f"{child.rpartition('.')[2]}={signatures[child]};".encode())
        signatures[name] = digest.hexdigest()
    leaves = {name for name, module in modules.items() if name and is_leaf_module(module)}
    leaf_params = {name: [(id(p), p.numel()) for p in modules[name].parameters()] for name in leaves}
    containers = {name for name, module in modules.items()
                  if isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict))}
    no_ops = {name for name in leaves if is_no_op_module(modules[name])}
    return ModuleInfo(names, types, children, params, signatures, leaves, containers, modules, leaf_params, no_ops)


def id_base(op: str) -> str:
    """In-place and plain variants share an id base, so both tracers name a node alike."""
    if op in ("iadd", "isub", "imul", "itruediv"):
        op = op[1:]
    return op.rstrip("_") or op


@dataclass
class OpGraph:
    """A traced model: ops and leaf modules as nodes, tensors as edges."""

    graph: nx.DiGraph
    tracer: str  # "fx" or "hooks"
    fallback_reason: str | None  # why torch.fx could not trace the model, when the fallback ran
    module_types: dict[str, str]
    module_children: dict[str, list[str]]
    module_params: dict[str, int] = field(default_factory=dict)
    module_signatures: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    model_type: str = ""
    device: str = "meta"  # where shapes were computed: "meta" (no memory) or the model's device
    leaf_modules: set[str] = field(default_factory=set)
    container_modules: set[str] = field(default_factory=set)
    no_op_modules: set[str] = field(default_factory=set)  # Identity leaves: in the module tree, not in the graph

    def owner(self, node: str) -> str:
        return self.graph.nodes[node]["module"]

    def nodes_in(self, module: str) -> list[str]:
        """Nodes that belong to ``module`` or to a module inside it, in execution order."""
        if module == "":
            return [n for n in self.graph if self.graph.nodes[n]["kind"] in (MODULE, FUNCTION)]
        prefix = module + "."
        return [n for n, data in self.graph.nodes(data=True)
                if data["kind"] in (MODULE, FUNCTION)
                and (data["module"] == module or data["module"].startswith(prefix))]

    @property
    def parameter_count(self) -> int:
        return self.module_params.get("", 0)

    def summary(self) -> dict[str, Any]:
        kinds = Counter(data["kind"] for _, data in self.graph.nodes(data=True))
        return {"tracer": self.tracer, "fallback_reason": self.fallback_reason, "nodes": self.graph.number_of_nodes(),
                "edges": self.graph.number_of_edges(), "modules": kinds[MODULE], "functions": kinds[FUNCTION],
                "parameters": self.parameter_count, "model_type": self.model_type}


class OpGraphBuilder:
    """Adds nodes with unique ids in execution order; shared by both tracers."""

    def __init__(self, info: ModuleInfo) -> None:
        self.info = info
        self.graph = nx.DiGraph()
        self.taken: set[str] = set(info.types)
        self.calls: Counter[str] = Counter()
        self.counted: set[int] = set()  # parameters already counted on a node (shared or tied weights)
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self._order = 0

    def _unique(self, base: str) -> str:
        if base not in self.taken:
            self.taken.add(base)
            return base
        index = 1
        while f"{base}_{index}" in self.taken:
            index += 1
        self.taken.add(f"{base}_{index}")
        return f"{base}_{index}"

    def _add(self, node_id: str, sources: list[str], **attrs: Any) -> str:
        self.graph.add_node(node_id, id=node_id, order=self._order, **attrs)
        self._order += 1
        for index, source in enumerate(sources):
            if source is not None and source != node_id and not self.graph.has_edge(source, node_id):
                self.graph.add_edge(source, node_id, index=index)
        return node_id

    def add_input(self, shape: Any) -> str:
        node_id = self._unique("input")
        self.inputs.append(node_id)
        return self._add(node_id, [], kind=INPUT, op="input", module="", module_type=self.info.types.get("", ""),
                         shape=shape, params=0, flops=0, fx_name=None)

    def add_module_call(self, qualname: str, sources: list[str], shape: Any, flops: int | None,
                        fx_name: str | None = None) -> str:
        count = self.calls[qualname]
        self.calls[qualname] += 1
        node_id = qualname if count == 0 else self._unique(f"{qualname}:{count}")
        type_name = self.info.types.get(qualname, "")
        params = 0
        for pid, numel in self.info.leaf_params.get(qualname, ()):  # shared or tied weights count once
            if pid not in self.counted:
                self.counted.add(pid)
                params += numel
        return self._add(node_id, sources, kind=MODULE, op=type_name, module=qualname, module_type=type_name,
                         shape=shape, params=params, flops=flops, call=count, fx_name=fx_name)

    def add_function(self, scope: str, op: str, sources: list[str], shape: Any, params: int, flops: int | None,
                     fx_name: str | None = None) -> str:
        base = id_base(op)
        node_id = self._unique(f"{scope}.{base}" if scope else base)
        return self._add(node_id, sources, kind=FUNCTION, op=op, module=scope,
                         module_type=self.info.types.get(scope, ""), shape=shape, params=params, flops=flops,
                         fx_name=fx_name)

    def add_output(self, sources: list[str], shape: Any) -> str:
        node_id = self._unique("output")
        self.outputs.append(node_id)
        return self._add(node_id, sources, kind=OUTPUT, op="output", module="",
                         module_type=self.info.types.get("", ""), shape=shape, params=0, flops=0, fx_name=None)

    def prune_dead_functions(self) -> None:
        """Drop function ops whose results reach neither an output nor a layer (``if h.sum() > 0``
        leaves ``sum`` and ``gt`` behind)."""
        live: set[str] = set()
        stack = [n for n, data in self.graph.nodes(data=True) if data["kind"] in (OUTPUT, MODULE)]
        while stack:
            node = stack.pop()
            if node in live:
                continue
            live.add(node)
            stack.extend(self.graph.predecessors(node))
        dead = [n for n, data in self.graph.nodes(data=True) if n not in live and data["kind"] == FUNCTION]
        self.graph.remove_nodes_from(dead)

    def build(self, tracer: str, fallback_reason: str | None, model_type: str, device: str) -> OpGraph:
        self.prune_dead_functions()
        return OpGraph(self.graph, tracer, fallback_reason, dict(self.info.types),
                       {k: list(v) for k, v in self.info.children.items()}, dict(self.info.params),
                       dict(self.info.signatures), list(self.inputs), list(self.outputs), model_type, device,
                       set(self.info.leaves), set(self.info.containers), set(self.info.no_ops))
