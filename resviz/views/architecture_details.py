"""What the architecture view says about the graph and about one box: the data behind its
details pane and tooltips (the widget only lays it out as text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..formatting import format_count, format_shape

SKIP_LABELS = {
    "identity": "identity",
    "projection": "projection (1×1 conv)",
    "zero_pad": "zero-pad (option A)",
    "pooling": "pooling",
    "concat": "concatenation",
    "long": "long skip",
}


def skip_label(kind: str) -> str:
    """A skip kind in words ("zero_pad" -> "zero-pad (option A)")."""
    return SKIP_LABELS.get(kind, kind)


def describe_skip(skip: Any) -> str:
    """A SkipConnection in one line: "identity: layer1.0.conv1 → layer1.0.add"."""
    return f"{skip_label(skip.kind)}: {skip.fork} → {skip.merge}"


@dataclass
class GraphSummary:
    """The details pane with nothing selected."""

    title: str
    parameters: str  # formatted count
    skips: str  # "9 identity, 2 zero-pad (option A)" or "none (a plain network)"
    boxes: int
    level: str
    tracer: str  # "fx", or "hooks (torch.fx failed: ...)"


@dataclass
class NodeDetails:
    """The details pane (and the tooltip) of one module, op or drawn box."""

    name: str
    label: str  # the box's label, or the name
    rows: list[tuple[str, str]] = field(default_factory=list)  # (what, value) as shown
    inside: str | None = None  # the collapsed box that holds it
    part_of: tuple[str, str] | None = None  # (enclosing module, its class name)
    skips: list[str] = field(default_factory=list)  # described skip connections at the box
    children: list[str] = field(default_factory=list)  # child modules, to open
    expandable: bool = False


def box_rows(node: Any) -> list[tuple[str, str]]:
    """A drawn box's rows: kind (×N when folded), output shape, parameters, FLOPs, ops inside."""
    rows = [("kind", node.kind + (f" ×{node.folded}" if node.folded > 1 else ""))]
    if node.folded > 1:
        ids = node.info.get("folded_ids") or []
        rows.append(("blocks", f"{ids[0]} … {ids[-1]}" if ids else ""))
    rows.append(("output", format_shape(node.info.get("shape"))))
    rows.append(("parameters", format_count(node.info.get("params", 0))))
    flops = node.info.get("flops")
    rows.append(("FLOPs", format_count(flops) if flops else "–"))
    if node.collapsed:
        rows.append(("ops inside", str(node.info.get("members", ""))))
    return rows


def module_rows(opgraph: Any, name: str) -> list[tuple[str, str]]:
    """A module without a box of its own (inside a collapsed block): kind, parameters, output, FLOPs."""
    rows = [("kind", opgraph.module_types[name]), ("parameters", format_count(opgraph.module_params.get(name, 0)))]
    if opgraph.graph.has_node(name):
        data = opgraph.graph.nodes[name]
        rows.append(("output", format_shape(data.get("shape"))))
        if data.get("flops"):
            rows.append(("FLOPs", format_count(data.get("flops"))))
    return rows
