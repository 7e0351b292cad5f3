"""The picture of a laid-out graph: ``build_scene`` makes drawing primitives, backends draw them.

The window's graph view draws the very same ``Scene`` with Qt items, so everything is in it:
boxes, labels, edges (with ``arrow=True`` for a head at the last point; ``arrow_head`` gives
its triangle), skip highlights coloured by kind, the legend and the title. ``scene_to_svg``
and ``save_png`` (matplotlib's Agg canvas, no pyplot, no Qt) only translate.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from xml.sax.saxutils import escape

from ..colours import DARK_TEXT, text_colour_on
from ..errors import ResvizError
from .types import MAIN_EDGE_COLOUR, SKIP_COLOURS, SKIP_KINDS, Layout, Scene, ScenePath, SceneRect, SceneText

PAD = 16.0
TITLE_HEIGHT = 34.0
TITLE_CHAR = 9.0  # width of a character of the bold 14 pt title
LEGEND_WIDTH = 176.0
LEGEND_ROW = 20.0
TEXT = DARK_TEXT
MUTED = "#52606D"
NODE_STROKE = "#9AA5B1"
SELECTED = "#D64545"
SKIP_WIDTH = 2.6
MAIN_WIDTH = 1.4
ARROW_LENGTH = 7.0
ARROW_WIDTH = 6.0

CATEGORY_FILLS = {
    "conv": "#DCEEFB", "norm": "#E3F9E5", "act": "#FFF3C4", "pool": "#EAE2F8", "resample": "#EAE2F8",
    "linear": "#FFE3E3", "merge": "#FFFFFF", "concat": "#FFFFFF", "input": "#E4E7EB", "output": "#E4E7EB",
    "block": "#D9E2EC", "pad": "#FCE8F3", "other": "#F5F7FA",
}


def arrow_head(points: list[tuple[float, float]], length: float = ARROW_LENGTH,
               width: float = ARROW_WIDTH) -> list[tuple[float, float]]:
    """The triangle (tip, left, right) of an arrow head at the end of ``points``."""
    (x0, y0), (x1, y1) = points[-2], points[-1]
    dx, dy = x1 - x0, y1 - y0
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm
    bx, by = x1 - ux * length, y1 - uy * length
    return [(x1, y1), (bx - uy * width / 2, by + ux * width / 2), (bx + uy * width / 2, by - ux * width / 2)]


def skip_kind_counts(layout: Layout) -> dict[str, int]:
    """Skips per kind in the model (the layout's count), else as many as edges drawn."""
    if layout.skip_counts:
        return dict(layout.skip_counts)
    counts = Counter(edge.kind for edge in layout.edges if edge.kind != "main")
    return {kind: counts[kind] for kind in SKIP_KINDS if counts[kind]}


def build_scene(layout: Layout, *, node_colours: dict[str, str] | None = None,
                edge_colours: dict[tuple[str, str], str] | None = None, selected: str | None = None,
                legend: bool = True, title: str | None = None) -> Scene:
    """Everything a backend needs to draw ``layout``."""
    node_colours = node_colours or {}
    edge_colours = edge_colours or {}
    ox = PAD
    oy = PAD + (TITLE_HEIGHT if title else 0.0)
    kinds_drawn = [kind for kind in SKIP_KINDS if any(e.kind == kind for e in layout.edges)]
    legend_rows = 2 + max(len(kinds_drawn), 1)
    legend_height = legend_rows * LEGEND_ROW + 16
    width = ox + layout.width + (LEGEND_WIDTH + PAD if legend else 0.0) + PAD
    if title:
        width = max(width, 2 * PAD + len(title) * TITLE_CHAR)  # a long title widens the picture
    height = max(oy + layout.height, oy + (legend_height if legend else 0.0)) + PAD
    scene = Scene(width=round(width, 2), height=round(height, 2))
    items = scene.items

    # Which nodes sit on a shortcut (every edge into them is a skip): outlined in its colour.
    incoming: dict[str, set[str]] = {}
    for edge in layout.edges:
        if edge.source != edge.target:
            incoming.setdefault(edge.target, set()).add(edge.kind)
    shortcut_kind = {node: next(iter(kinds)) for node, kinds in incoming.items()
                     if len(kinds) == 1 and "main" not in kinds and layout.nodes[node].info.get("category") not in
                     ("merge", "concat")}

    def shifted(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(round(x + ox, 2), round(y + oy, 2)) for x, y in points]

    edges = sorted(layout.edges, key=lambda e: e.kind != "main")  # skips on top of the main path
    loop_labels: list[SceneText] = []
    for edge in edges:
        skip = edge.kind != "main"
        colour = edge_colours.get((edge.source, edge.target)) or (SKIP_COLOURS.get(edge.kind, MAIN_EDGE_COLOUR)
                                                                   if skip else MAIN_EDGE_COLOUR)
        edge_id = f"{edge.source}->{edge.target}" + (f":{edge.kind}" if edge.source == edge.target else "")
        items.append(ScenePath(id=edge_id, points=shifted(edge.points), stroke=colour,
                               width=SKIP_WIDTH if skip else MAIN_WIDTH, arrow=True, kind=edge.kind))
        if edge.source == edge.target:
            count = int(layout.nodes[edge.source].info.get("loop_counts", {}).get(edge.kind, 1))
            if count > 1:
                xs = [p[0] for p in edge.points]
                ys = [p[1] for p in edge.points]
                loop_labels.append(SceneText(x=max(xs) + ox + 4, y=(min(ys) + max(ys)) / 2 + oy, text=f"×{count}",
                                             colour=colour, size=9.5, anchor="start", bold=True, id=edge.source))

    for node in layout.nodes.values():
        left, top = node.x - node.width / 2 + ox, node.y - node.height / 2 + oy
        category = node.info.get("category", "other")
        fill = node_colours.get(node.id) or CATEGORY_FILLS.get(category, CATEGORY_FILLS["other"])
        stroke, stroke_width = NODE_STROKE, 1.0
        if node.collapsed:
            stroke, stroke_width = MUTED, 1.4
        if node.id in shortcut_kind:
            stroke, stroke_width = SKIP_COLOURS.get(shortcut_kind[node.id], stroke), 1.8
        if category in ("merge", "concat"):
            stroke, stroke_width = MUTED, 1.4
        if node.id == selected:
            stroke, stroke_width = SELECTED, 3.0
        radius = node.height / 2 if category in ("merge", "concat") and not node.collapsed else 5.0
        w, h = node.width, node.height
        if node.folded > 1:  # a stack of cards: one behind, offset up and right
            items.append(SceneRect(id=node.id, x=round(left + 6, 2), y=round(top, 2), width=round(w - 6, 2),
                                   height=round(h - 6, 2), fill=fill, stroke=stroke, stroke_width=1.0, radius=radius))
            top, w, h = top + 6, w - 6, h - 6
        items.append(SceneRect(id=node.id, x=round(left, 2), y=round(top, 2), width=round(w, 2), height=round(h, 2),
                               fill=fill, stroke=stroke, stroke_width=stroke_width, radius=radius,
                               dashed=category == "input" or category == "output"))
        text_colour, detail_colour = text_colour_on(fill, TEXT), text_colour_on(fill, MUTED)
        cx, cy = round(left + w / 2, 2), top + h / 2
        detail = str(node.info.get("detail", "") or "")
        if category in ("merge", "concat") and not node.collapsed:
            items.append(SceneText(x=cx, y=round(cy, 2), text=node.label, colour=text_colour,
                                   size=13 if node.label == "+" else 10.0, bold=True, id=node.id))
        elif detail:
            items.append(SceneText(x=cx, y=round(cy - 7, 2), text=node.label, colour=text_colour, size=11.0, bold=True,
                                   id=node.id))
            items.append(SceneText(x=cx, y=round(cy + 9, 2), text=detail, colour=detail_colour, size=9.5, id=node.id))
        else:
            items.append(SceneText(x=cx, y=round(cy, 2), text=node.label, colour=text_colour, size=11.0, bold=True,
                                   id=node.id))
    items.extend(loop_labels)

    if title:
        items.append(SceneText(x=PAD, y=PAD + 12, text=title, colour=TEXT, size=14.0, anchor="start", bold=True))
    if legend:
        _legend(scene, ox + layout.width + PAD, oy, legend_height, skip_kind_counts(layout))
    return scene


def _legend(scene: Scene, x: float, y: float, height: float, counts: dict[str, int]) -> None:
    items = scene.items
    items.append(SceneRect(id="", x=round(x, 2), y=round(y, 2), width=LEGEND_WIDTH, height=round(height, 2),
                           fill="#FFFFFF", stroke="#CBD2D9", stroke_width=1.0, radius=6.0))
    row_y = y + 8 + LEGEND_ROW / 2
    items.append(SceneText(x=x + 10, y=round(row_y, 2), text="skip connections", colour=TEXT, size=11.0,
                           anchor="start", bold=True))
    rows = [(kind, counts[kind], SKIP_COLOURS[kind], SKIP_WIDTH) for kind in counts]
    if not rows:
        row_y += LEGEND_ROW
        items.append(SceneText(x=x + 10, y=round(row_y, 2), text="none: a plain network", colour=MUTED, size=10.0,
                               anchor="start"))
    for kind, count, colour, width in rows:
        row_y += LEGEND_ROW
        items.append(ScenePath(id="", points=[(round(x + 10, 2), round(row_y, 2)), (round(x + 38, 2), round(row_y, 2))],
                               stroke=colour, width=width, arrow=False, kind=kind))
        items.append(SceneText(x=round(x + 46, 2), y=round(row_y, 2), text=f"{kind.replace('_', '-')}  ×{count}",
                               colour=TEXT, size=10.0, anchor="start"))
    row_y += LEGEND_ROW
    items.append(ScenePath(id="", points=[(round(x + 10, 2), round(row_y, 2)), (round(x + 38, 2), round(row_y, 2))],
                           stroke=MAIN_EDGE_COLOUR, width=MAIN_WIDTH, arrow=False, kind="main"))
    items.append(SceneText(x=round(x + 46, 2), y=round(row_y, 2), text="main path", colour=TEXT, size=10.0,
                           anchor="start"))


# -- SVG ----------------------------------------------------------------------------------------
def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def scene_to_svg(scene: Scene) -> str:
    """The scene as a standalone SVG document."""
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_fmt(scene.width)}" height="{_fmt(scene.height)}" '
           f'viewBox="0 0 {_fmt(scene.width)} {_fmt(scene.height)}" '
           f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
           f'<rect width="100%" height="100%" fill="{scene.background}"/>']
    for item in scene.items:
        if isinstance(item, SceneRect):
            dash = ' stroke-dasharray="4 3"' if item.dashed else ""
            out.append(f'<rect x="{_fmt(item.x)}" y="{_fmt(item.y)}" width="{_fmt(item.width)}" '
                       f'height="{_fmt(item.height)}" rx="{_fmt(item.radius)}" fill="{item.fill}" '
                       f'stroke="{item.stroke}" stroke-width="{_fmt(item.stroke_width)}"{dash}>'
                       + (f"<title>{escape(item.id)}</title>" if item.id else "") + "</rect>")
        elif isinstance(item, ScenePath):
            if len(item.points) < 2:
                continue
            points = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in item.points)
            dash = ' stroke-dasharray="5 4"' if item.dashed else ""
            out.append(f'<polyline points="{points}" fill="none" stroke="{item.stroke}" '
                       f'stroke-width="{_fmt(item.width)}" stroke-linejoin="round" stroke-linecap="round"{dash}/>')
            if item.arrow:
                head = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in arrow_head(item.points))
                out.append(f'<polygon points="{head}" fill="{item.stroke}"/>')
        elif isinstance(item, SceneText):
            anchor = {"start": "start", "middle": "middle", "end": "end"}.get(item.anchor, "middle")
            weight = ' font-weight="bold"' if item.bold else ""
            out.append(f'<text x="{_fmt(item.x)}" y="{_fmt(item.y)}" font-size="{_fmt(item.size)}" '
                       f'fill="{item.colour}" '
                       f'text-anchor="{anchor}" dominant-baseline="central"{weight}>{escape(item.text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def save_svg(scene: Scene, path: str | Path) -> Path:
    from ..files import atomic_write

    path = Path(path)
    try:
        with atomic_write(path) as handle:  # whole or not at all
            handle.write(scene_to_svg(scene))
    except OSError as exc:
        raise ResvizError(f"{path}: cannot write the SVG: {exc.strerror or exc}") from None
    return path


# -- PNG ----------------------------------------------------------------------------------------
MAX_PNG_PIXELS = 30_000  # per side; Agg's hard limit is 2**16
MIN_READABLE_SCALE = 0.6


def png_scale(scene: Scene, scale: float) -> float:
    """``scale``, lowered so the image fits ``MAX_PNG_PIXELS``; an error if labels would be unreadable."""
    fit = MAX_PNG_PIXELS / max(scene.width, scene.height, 1.0)
    if fit >= scale:
        return scale
    if fit < MIN_READABLE_SCALE:
        raise ResvizError(f"the graph is {int(scene.width)}x{int(scene.height)} units, too large for a readable PNG; "
                          f"draw fewer boxes (--level blocks or stages, --fold) or export SVG")
    return fit


def save_png(scene: Scene, path: str | Path, scale: float = 2.0) -> Path:
    """Draw ``scene`` with matplotlib's Agg canvas; 1 scene unit = ``scale`` pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyBboxPatch, Polygon

    path = Path(path)
    scale = png_scale(scene, scale)
    figure = Figure(figsize=(scene.width / 72, scene.height / 72), dpi=72 * scale)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, scene.width)
    axes.set_ylim(scene.height, 0)
    axes.axis("off")
    figure.patch.set_facecolor(scene.background)
    z = 0
    for item in scene.items:
        z += 1
        if isinstance(item, SceneRect):
            radius = min(item.radius, item.width / 2, item.height / 2)
            axes.add_patch(FancyBboxPatch((item.x, item.y), item.width, item.height,
                                          boxstyle=f"round,pad=0,rounding_size={radius}", facecolor=item.fill,
                                          edgecolor=item.stroke, linewidth=item.stroke_width,
                                          linestyle=(0, (4, 3)) if item.dashed else "solid", zorder=z))
        elif isinstance(item, ScenePath):
            if len(item.points) < 2:
                continue
            xs, ys = zip(*item.points)
            axes.add_line(Line2D(xs, ys, color=item.stroke, linewidth=item.width, solid_joinstyle="round",
                                 solid_capstyle="round", linestyle=(0, (5, 4)) if item.dashed else "solid", zorder=z))
            if item.arrow:
                axes.add_patch(Polygon(arrow_head(item.points), closed=True, facecolor=item.stroke,
                                       edgecolor="none", zorder=z))
        elif isinstance(item, SceneText):
            axes.text(item.x, item.y, item.text, color=item.colour, fontsize=item.size,
                      ha={"start": "left", "middle": "center", "end": "right"}.get(item.anchor, "center"),
                      va="center", fontweight="bold" if item.bold else "normal", zorder=z)
    from ..files import atomic_path

    try:
        with atomic_path(path) as temporary:  # whole or not at all
            figure.savefig(temporary, format="png", dpi=72 * scale, facecolor=scene.background)
    except OSError as exc:
        raise ResvizError(f"{path}: cannot write the PNG: {exc.strerror or exc}") from None
    return path
