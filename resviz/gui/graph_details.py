"""The architecture view's words as rich text: the details pane and the tooltips, laid out from
the model's ``GraphSummary`` and ``NodeDetails``. Links are module names: a click selects one."""

from __future__ import annotations

import html

from ..views.architecture_details import GraphSummary, NodeDetails

NO_MODEL_HTML = "<p style='color:#7B8794'>Load a model to see its architecture.</p>"
HINT_HTML = ("<p style='color:#7B8794'>Click a box for its details; double-click to expand or collapse; "
             "drag to pan, wheel to zoom, F to fit.</p>")


def _table(rows: list[tuple[str, str]], gap: int) -> str:
    cells = "".join(f"<tr><td style='color:#52606D;padding-right:{gap}px'>{html.escape(k)}</td>"
                    f"<td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _link(name: str, text: str | None = None) -> str:
    return f"<a href='{html.escape(name)}'>{html.escape(name if text is None else text)}</a>"


def summary_html(summary: GraphSummary | None) -> str:
    """The details pane with nothing selected."""
    if summary is None:
        return NO_MODEL_HTML
    return (f"<h3>{html.escape(summary.title)}</h3>"
            f"<p>{summary.parameters} parameters<br/>"
            f"skip connections: {html.escape(summary.skips)}<br/>"
            f"{summary.boxes} boxes at level <b>{summary.level}</b><br/>"
            f"traced with {html.escape(summary.tracer)}</p>" + HINT_HTML)


def details_html(details: NodeDetails) -> str:
    """The details pane of one module, op or box."""
    parts = [f"<h3>{html.escape(details.name)}</h3>{_table(details.rows, 10)}"]
    if details.inside is not None:
        parts.append(f"<p>inside {_link(details.inside)} (collapsed)</p>")
    elif details.part_of is not None:
        parent, kind = details.part_of
        parts.append(f"<p>part of {_link(parent)} {html.escape(kind)}</p>")
    if details.skips:
        parts.append("<p><b>skip connections</b><br/>" + "<br/>".join(html.escape(s) for s in details.skips[:12])
                     + "</p>")
    if details.children:
        links = ", ".join(_link(c, c.rsplit(".", 1)[-1]) for c in details.children[:40])
        parts.append(f"<p><b>children</b><br/>{links}</p>")
    return "".join(parts)


def tooltip_html(details: NodeDetails) -> str:
    """A box's tooltip: its label and name, rows, up to four skips, and how to open it."""
    skips = "".join(f"<br/>{html.escape(s)}" for s in details.skips[:4])
    if len(details.skips) > 4:
        skips += f"<br/>… {len(details.skips) - 4} more skips"
    hint = "<br/><i>double-click to expand</i>" if details.expandable else ""
    return (f"<b>{html.escape(details.label)}</b><br/><code>{html.escape(details.name)}</code>"
            f"{_table(details.rows, 8)}{skips}{hint}")
