"""``resviz graph MODEL``: trace a model and show its block graph with the shortcuts highlighted.

MODEL may also be a model file: ``model.onnx`` (its graph is read, nothing runs) or
``model.pt2`` (a torch.export program: its graph is read; loading it needs ``--trust``).

Without ``--out`` it prints a short summary (tracer, nodes, skips by kind, blocks); with
``--out graph.svg|graph.png|graph.json`` it writes the picture, or the block graph as JSON
(nodes, edges with their skip kind, skips, layout).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import ResvizError
from ._common import add_model_arguments, load_model_from_args

FORMATS = (".svg", ".png", ".json")
TRACER_NAMES = {"fx": "traced with torch.fx", "hooks": "traced with the forward-pass fallback",
                "onnx": "ONNX graph read", "export": "torch.export program read"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "graph", help="trace a model and draw its block graph with the skip connections highlighted",
        description="Trace a model, find and classify its skip connections, and print a summary or write the "
                    "block graph as SVG, PNG or JSON.")
    add_model_arguments(parser)
    parser.add_argument("--level", choices=("stages", "blocks", "layers"),
                        help="level of detail (default: the finest that stays readable for this model)")
    parser.add_argument("--fold", action="store_true", help='fold repeated identical blocks ("BasicBlock ×9")')
    parser.add_argument("--expand", action="append", default=[], metavar="MODULE",
                        help="show this module's insides (repeatable), e.g. --expand layer2.0")
    parser.add_argument("--collapse", action="append", default=[], metavar="MODULE",
                        help="draw this module as one box (repeatable)")
    parser.add_argument("--tracer", choices=("auto", "fx", "hooks"), default="auto",
                        help="torch.fx, the forward-pass fallback, or fx with the fallback (default)")
    parser.add_argument("--out", metavar="FILE", help="write graph.svg, graph.png or graph.json")
    parser.add_argument("--scale", type=float, default=2.0, help="PNG pixels per unit (default 2)")
    parser.add_argument("--title", help="title of the picture (default: the model, its skips and the level)")
    parser.set_defaults(func=run)


def _format(out: str) -> str:
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise ResvizError(f"--out {out}: unknown format {suffix or '(none)'!r}; use .svg, .png or .json")
    return suffix


def _counts_text(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "no skip connections"
    parts = ", ".join(f"{n} {kind.replace('_', '-')}" for kind, n in counts.items())
    return f"{total} skip connection{'s' if total != 1 else ''} ({parts})"


def _block_name(qualname: str) -> str:
    """A residual block as the summary names it; the root ("") is the model itself."""
    return qualname or "(the model itself)"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def run(args: argparse.Namespace) -> int:
    from ..graph import (
        block_graph,
        default_level,
        draw,
        find_skips,
        layout_graph,
        residual_blocks,
        skip_counts,
        trace_graph,
    )

    suffix = _format(args.out) if args.out else None
    if args.scale <= 0:
        raise ResvizError(f"--scale {args.scale}: must be positive")
    loaded = load_model_from_args(args)
    opgraph = trace_graph(loaded.model, loaded.example_input(), tracer=args.tracer)
    skips = find_skips(opgraph)
    level = args.level or default_level(opgraph, skips=skips)
    blocks = block_graph(opgraph, level, expand=args.expand, collapse=args.collapse, fold_repeats=args.fold,
                         skips=skips)
    counts = skip_counts(skips)
    name = loaded.spec.name
    if suffix is None:
        how = TRACER_NAMES.get(opgraph.tracer, opgraph.tracer)
        where = "from the file" if opgraph.device == "file" else f"on {opgraph.device}"
        print(f"{name} ({opgraph.model_type}): {how} {where}, "
              f"{opgraph.graph.number_of_nodes()} nodes, {opgraph.parameter_count:,} parameters")
        if opgraph.fallback_reason:
            print(f"  why not torch.fx: {opgraph.fallback_reason}")
        print(f"skips: {_counts_text(counts)}")
        blocks_held = [_block_name(block) for block in residual_blocks(skips)]
        if blocks_held:
            shown = ", ".join(blocks_held[:8]) + (f", ... ({len(blocks_held)} in all)" if len(blocks_held) > 8 else "")
            print(f"residual blocks: {shown}")
        boxes = [data["label"] for _, data in sorted(blocks.graph.nodes(data=True), key=lambda item: item[1]["order"])]
        print(f"level {level}: {blocks.graph.number_of_nodes()} nodes, {blocks.graph.number_of_edges()} edges")
        if len(boxes) <= 24:
            print("  " + " → ".join(boxes))
        return 0

    layout = layout_graph(blocks)
    path = Path(args.out)
    if suffix == ".json":
        data = {"model": loaded.spec.to_dict(), "model_type": opgraph.model_type, "tracer": opgraph.tracer,
                "fallback_reason": opgraph.fallback_reason, "device": opgraph.device,
                "input_shape": list(loaded.input_shape), "parameters": opgraph.parameter_count,
                "skip_counts": counts, "residual_blocks": residual_blocks(skips), **blocks.to_dict(),
                "layout": layout.to_dict()}
        from ..files import atomic_write

        try:
            with atomic_write(path) as handle:  # whole or not at all
                handle.write(json.dumps(_jsonable(data), indent=1) + "\n")
        except OSError as exc:
            raise ResvizError(f"{path}: cannot write the JSON: {exc.strerror or exc}") from None
    else:
        title = args.title or f"{name} — {_counts_text(counts)} · {level}"
        scene = draw.build_scene(layout, title=title)
        if suffix == ".svg":
            draw.save_svg(scene, path)
        else:
            draw.save_png(scene, path, scale=args.scale)
    print(f"wrote {path} ({level}: {blocks.graph.number_of_nodes()} nodes, {_counts_text(counts)})")
    return 0
