"""``resviz bench graph``: how long tracing, collapsing and laying out a model's graph take.

For each model (built on the meta device, so building costs nothing): trace with torch.fx
and with the forward-pass fallback, find skips and collapse to blocks, and lay out the full
graph and the collapsed one. Baselines from the same process put the numbers in proportion:
one plain forward pass on meta for tracing (shapes cannot come cheaper), and networkx's
topological sort for layout (a layered layout cannot do less). A synthetic graph of
``--nodes`` nodes (a main path with skips every few nodes and projection branches) checks
the layout target: well under 100 ms for 2,000 nodes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

HELP = "graph: trace, collapse and layout times for ResNet-20/110/1202/152 and a synthetic 2,000-node layout"
DEFAULT_MODELS = "resnet20,resnet110,resnet1202,resnet152"
LAYOUT_TARGET_MS = 100.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default=DEFAULT_MODELS,
                        help=f"comma-separated zoo models (default {DEFAULT_MODELS})")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each measurement; the median is shown (default 3)")
    parser.add_argument("--nodes", type=int, default=2000, help="nodes of the synthetic layout graph (default 2000)")


def _median_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def synthetic_graph(nodes: int) -> Any:
    """A main path of ``nodes`` nodes with an identity skip over every 6 and a projection branch every 50."""
    import networkx as nx

    graph = nx.DiGraph()
    count = 0

    def add(kind: str, category: str) -> str:
        nonlocal count
        name = f"n{count}"
        graph.add_node(name, label=name, detail=f"{kind} · 64×32×32", kind=kind, category=category, order=count,
                       collapsed=False, folded=1)
        count += 1
        return name

    previous = add("input", "input")
    fork = previous
    while count < nodes:
        node = add("Conv2d", "conv")
        graph.add_edge(previous, node, kind="main")
        if count % 7 == 0 and fork != previous:
            merge = add("add", "merge")
            graph.add_edge(node, merge, kind="main")
            if count % 50 < 7 and count + 2 < nodes:
                first = add("Conv2d", "conv")
                second = add("BatchNorm2d", "norm")
                graph.add_edge(fork, first, kind="projection")
                graph.add_edge(first, second, kind="projection")
                graph.add_edge(second, merge, kind="projection")
            else:
                graph.add_edge(fork, merge, kind="identity")
            node = merge
            fork = merge
        previous = node
    return graph


def run(args: argparse.Namespace) -> int:
    import networkx as nx
    import torch

    from ..errors import ResvizError
    from ..graph import block_graph, default_level, find_skips, layout_graph, trace_graph
    from ..models import get_model

    if args.repeat < 1 or args.nodes < 2:
        raise ResvizError("--repeat must be at least 1 and --nodes at least 2")
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    print(f"graph benchmark: median of {args.repeat} runs, CPU threads {torch.get_num_threads()}")
    header = ("model", "nodes", "skips", "fx ms", "hooks ms", "×fwd", "blocks ms", "layout ms", "×topo",
              "collapsed", "layout ms", "total ms")
    rows = []
    for name in names:
        with torch.device("meta"):
            model = get_model(name)
        x = torch.empty(1, *model.input_shape, device="meta")
        trace_graph(model)  # first-use costs (meta kernels, imports) paid outside the timing

        def forward() -> None:
            with torch.no_grad():
                model.eval()
                model(x)

        forward_ms, _ = _median_ms(forward, args.repeat)
        fx_ms, opgraph = _median_ms(lambda: trace_graph(model, x, tracer="fx"), args.repeat)
        hooks_ms, _ = _median_ms(lambda: trace_graph(model, x, tracer="hooks"), args.repeat)
        level = default_level(opgraph)
        blocks_ms, blocks = _median_ms(lambda: block_graph(opgraph, level, skips=find_skips(opgraph)), args.repeat)
        full = block_graph(opgraph, "layers")
        layout_full_ms, _ = _median_ms(lambda: layout_graph(full), args.repeat)
        topo_ms, _ = _median_ms(lambda: list(nx.topological_sort(full.graph)), args.repeat)
        layout_level_ms, _ = _median_ms(lambda: layout_graph(blocks), args.repeat)
        total = fx_ms + blocks_ms + layout_full_ms
        rows.append((name, str(opgraph.graph.number_of_nodes()), str(len(blocks.skips)), f"{fx_ms:.0f}",
                     f"{hooks_ms:.0f}", f"{fx_ms / forward_ms:.2f}", f"{blocks_ms:.1f}", f"{layout_full_ms:.1f}",
                     f"{layout_full_ms / topo_ms:.1f}", f"{level} ({blocks.graph.number_of_nodes()})",
                     f"{layout_level_ms:.1f}", f"{total:.0f}"))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (cell.ljust(w) if i in (0, 9) else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        print("  ".join(cells))
    print("fx/hooks: trace (shapes on meta); ×fwd: fx trace / one forward pass on meta; blocks: skips and collapse "
          "to the default level; layout: full detail, ×topo: / networkx topological sort; total: fx + blocks + "
          "full layout")

    graph = synthetic_graph(args.nodes)
    layout_ms, layout = _median_ms(lambda: layout_graph(graph), max(args.repeat, 5))
    topo_ms, _ = _median_ms(lambda: list(nx.topological_sort(graph)), max(args.repeat, 5))
    verdict = "within" if layout_ms < LAYOUT_TARGET_MS else "OVER"
    print(f"synthetic layout: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges: {layout_ms:.1f} ms "
          f"({layout_ms / topo_ms:.1f}× a topological sort; {verdict} the {LAYOUT_TARGET_MS:.0f} ms target), "
          f"{len(layout.edges)} routes")
    return 0
