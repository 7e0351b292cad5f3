"""Every view model works in an interpreter where Qt cannot be imported (one subprocess for all)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CODE = textwrap.dedent("""
    import sys
    for name in ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6"):
        sys.modules[name] = None  # any import of them now raises ImportError
    import torch
    from torch import nn
    from resviz.graph import trace_graph
    from resviz.views import ArchitectureModel, TwinArchitectureModel
    from resviz.views.attribution import AttributionRequest
    from resviz.views.model_choice import ModelChoice
    from resviz.views.run_comparison import RunComparison

    # The architecture view: level, layout, skips, gradient aggregation, details.
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        def forward(self, x):
            return x + self.conv2(torch.relu(self.conv1(x)))

    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), Block(), Block())
    opgraph = trace_graph(net, torch.zeros(1, 3, 8, 8))
    twin = TwinArchitectureModel()
    seen = []
    twin.state.events.level.connect(seen.append)
    twin.residual.open_graph(opgraph, "tiny")
    twin.residual.set_level("blocks")
    twin.residual.draw_now()
    assert seen == ["layers", "blocks"] and set(twin.residual.layout.nodes) >= {"1", "2"}, twin.residual.layout.nodes
    assert [kind for *_, kind in twin.residual.skip_edges()] == ["identity", "identity"]
    twin.residual.set_gradients(layer_norms={"1.conv1": 3.0, "1.conv2": 4.0})
    assert twin.residual.node_norms() == {"1": 5.0}
    assert twin.residual.details("1").expandable

    # The attribution request.
    request = AttributionRequest()
    request.set_option("smoothgrad", "nt_samples", 20)
    assert request.option("smoothgrad", "nt_samples") == 20

    # The training view: timeline, comparison frame, model choice.
    comparison = RunComparison()
    ticks = []
    comparison.timeline.changed.connect(lambda: ticks.append(comparison.step))
    comparison.timeline.set_range(0, 10)
    comparison.timeline.seek(4)
    assert ticks == [10, 4] and comparison.frame().step == 4
    assert ModelChoice.embedded_default().twin

    assert not [m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph")
                and sys.modules[m] is not None]
    print("ok")
""")


def test_the_view_models_work_with_qt_unimportable():
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"
