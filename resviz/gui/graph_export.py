"""The architecture figure as a file: the drawn graph with today's colours and selection, its
legend and colour bar, written as PNG or SVG from one Scene (whole or not at all)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ResvizError
from ..files import atomic_path, atomic_write
from ..graph.draw import png_scale, scene_to_svg
from ..graph.types import Layout, Scene, SceneText
from .graph_jobs import build_view_scene
from .graph_scene import colour_bar_primitives, render_scene_image

SKIP_GRADIENT_WIDTH = 4.0  # a skip coloured by its gradient is drawn thicker, in the window and in files


def _svg_number(value: float) -> str:
    """A number as ``scene_to_svg`` writes it."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def export_scene(layout: Layout, *, node_colours: dict[str, str], edge_colours: dict[tuple[str, str], str],
                 levels: tuple[float, float] | None, selected: str | None, title: str | None,
                 legend: bool = True) -> Scene:
    """The figure as Scene primitives: the graph coloured as shown, the legend, the colour bar."""
    scene = build_view_scene(layout, node_colours=node_colours, edge_colours=edge_colours, selected=selected,
                             legend=legend, title=title)
    if edge_colours:  # gradient-coloured skips are drawn thicker, as in the window
        for item in scene.items:
            if getattr(item, "kind", "main") != "main" and getattr(item, "id", "") and hasattr(item, "points"):
                source, _, rest = item.id.partition("->")
                if (source, rest.partition(":")[0]) in edge_colours:
                    item.width = SKIP_GRADIENT_WIDTH
    if levels is not None:
        x = scene.width + 8
        height = min(260.0, max(120.0, scene.height - 90))
        scene.items.extend(colour_bar_primitives(levels, x=x, y=60, height=height))
        scene.width = x + 86
        if edge_colours:  # the legend gives the kinds; say what the skips' colours mean now
            for offset, line in enumerate(("skips coloured by", "the gradient at", "their block's output")):
                scene.items.append(SceneText(x=x, y=60 + height + 22 + 13 * offset, text=line, size=9.5,
                                             colour="#52606D", anchor="start"))
            scene.width = max(scene.width, x + 110)
            scene.height = max(scene.height, 60 + height + 22 + 13 * 3 + 8)
    return scene


def check_export_path(path: str | Path, size: tuple[int, int] | None) -> Path:
    """The path as a Path, once its suffix (.png or .svg) and ``size`` are known to be usable."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ResvizError(f"{path}: export as .png or .svg, not {suffix or 'a name without suffix'}")
    if size is not None and (len(size) != 2 or min(int(size[0]), int(size[1])) < 1):
        raise ResvizError(f"{path}: size {size!r} must be (width, height) in pixels")
    return path


def write_scene(scene: Scene, path: Path, size: tuple[int, int] | None = None) -> Path:
    """Write ``scene`` as PNG or SVG (by the suffix) at ``size`` pixels (see ``ArchitectureView.export_image``)."""
    try:
        if path.suffix.lower() == ".svg":
            text = scene_to_svg(scene)
            if size is not None:  # the drawing keeps its viewBox; only its displayed size changes
                text = text.replace(f'width="{_svg_number(scene.width)}" height="{_svg_number(scene.height)}"',
                                    f'width="{int(size[0])}" height="{int(size[1])}"', 1)
            with atomic_write(path) as handle:
                handle.write(text)
        else:
            image = render_scene_image(scene, size, scale=png_scale(scene, 2.0) if size is None else 1.0)
            with atomic_path(path) as temporary:  # whole or not at all
                if not image.save(str(temporary), "PNG"):
                    raise ResvizError(f"{path}: could not write the PNG file")
    except OSError as error:
        raise ResvizError(f"{path}: cannot write ({error.strerror or error})") from error
    return path
