import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from resviz.cli import main

USER_MODEL = '''
import torch
from torch import nn


class ResNetBlock(nn.Module):
    def __init__(self, in_channels=64, out_channels=128):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.relu(self.conv1(x))
        out = self.conv2(out)
        out += x
        return self.relu(out)


def build(out_channels=128):
    model = ResNetBlock(64, out_channels)
    model.input_shape = (64, 32, 32)
    return model
'''


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_summary(capsys):
    code, out, err = run(["graph", "resnet20"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "resnet20 (ResNet): traced with torch.fx on meta, 75 nodes, 269,722 parameters"
    assert lines[1] == "skips: 9 skip connections (7 identity, 2 zero-pad)"
    assert lines[2].startswith("residual blocks: layer1.0, layer1.1, layer1.2, layer2.0")
    assert lines[3] == "level layers: 75 nodes, 83 edges"


def test_summary_names_a_model_that_is_itself_the_residual_block(capsys):
    seeds = Path(__file__).with_name("seed_models.py")
    code, out, _ = run(["graph", f"{seeds}:SimpleResBlock", "--trust", "--input-shape", "3,5,5"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == "skips: 1 skip connection (1 identity)"
    assert lines[2] == "residual blocks: (the model itself)"
    code, out, _ = run(["graph", f"{seeds}:SharedBlock", "--trust", "--input-shape", "3,5,5"], capsys)
    assert code == 0 and "residual blocks: block\n" in out


def test_summary_without_norm_layers_has_no_identity_boxes(capsys):
    code, out, _ = run(["graph", "resnet20", "-o", "norm=none"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "resnet20 (ResNet): traced with torch.fx on meta, 56 nodes, 269,034 parameters"
    assert lines[1] == "skips: 9 skip connections (7 identity, 2 zero-pad)"
    code, out, _ = run(["graph", "resnet20", "-o", "norm=none", "--level", "blocks"], capsys)
    assert "  input → conv1 → relu → layer1.0 → layer1.1" in out and "bn1" not in out


def test_summary_folded_blocks_of_a_plain_net(capsys):
    code, out, _ = run(["graph", "plain56", "--level", "blocks", "--fold"], capsys)
    assert code == 0
    assert "skips: no skip connections" in out
    assert "relu → BasicBlock ×9 → layer2.0 → BasicBlock ×8 → layer3.0 → BasicBlock ×8 → avgpool" in out


def test_json_has_nodes_edges_with_skip_kinds_and_layout(tmp_path, capsys):
    target = tmp_path / "graph.json"
    code, out, _ = run(["graph", "resnet18", "--level", "blocks", "--out", str(target)], capsys)
    assert code == 0 and out.startswith(f"wrote {target} (blocks: 17 nodes")
    data = json.loads(target.read_text())
    assert data["model"] == {"name": "resnet18", "options": {}}
    assert data["tracer"] == "fx" and data["level"] == "blocks"
    assert data["skip_counts"] == {"identity": 5, "projection": 3}
    loops = {e["source"]: e["kind"] for e in data["edges"] if e["source"] == e["target"]}
    assert loops["layer2.0"] == "projection" and loops["layer1.0"] == "identity"
    assert {n["id"] for n in data["nodes"]} == {n["id"] for n in data["layout"]["nodes"]}
    assert len(data["skips"]) == 8 and data["skips"][2]["short_path"] == ["layer2.0.downsample.0",
                                                                        "layer2.0.downsample.1"]


def test_svg_and_png(tmp_path, capsys):
    svg = tmp_path / "graph.svg"
    assert run(["graph", "resnet20", "--level", "blocks", "--fold", "--out", str(svg)], capsys)[0] == 0
    root = ET.parse(svg).getroot()
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "resnet20 — 9 skip connections (7 identity, 2 zero-pad) · blocks" in texts
    assert "BasicBlock ×3" in texts
    png = tmp_path / "graph.png"
    assert run(["graph", "mnist_resnet", "--level", "blocks", "--out", str(png), "--scale", "1"], capsys)[0] == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_user_model_needs_trust_and_its_shape_error_is_one_line(tmp_path, capsys):
    path = tmp_path / "block.py"
    path.write_text(USER_MODEL)
    code, _, err = run(["graph", f"{path}:build"], capsys)
    assert code == 2 and "pass --trust" in err
    code, _, err = run(["graph", f"{path}:build", "--trust"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("resviz: error: ResNetBlock: add of (1, 128, 32, 32) and (1, 64, 32, 32) fails")
    assert "nn.Conv2d(64, 128, kernel_size=1, stride=1) (+ norm) on the shortcut" in err
    code, out, _ = run(["graph", f"{path}:build", "--trust", "-o", "out_channels=64"], capsys)
    assert code == 0 and "skips: 1 skip connection (1 identity)" in out


@pytest.mark.parametrize("argv,message", [
    (["graph", "resnet20", "--out", "graph.txt"], "--out graph.txt: unknown format '.txt'; use .svg, .png or .json"),
    (["graph", "resnet20", "--expand", "layer7"], "cannot expand 'layer7': no such module"),
    (["graph", "resnet20", "--input-shape", "1,32,32"], "conv1 expects 3 input channels, got 1"),
    (["graph", "resnet99"], "unknown model 'resnet99'"),
    (["graph", "resnet20", "--out", "/nonexistent/dir/graph.svg"], "/nonexistent/dir/graph.svg: cannot write"),
])
def test_bad_input_is_a_one_line_error(argv, message, capsys):
    code, _, err = run(argv, capsys)
    assert code == 2
    assert err.startswith("resviz: error: ") and message in err and err.count("\n") == 1


def test_bench_graph_prints_its_table(capsys):
    code, out, _ = run(["bench", "graph", "--models", "resnet20", "--repeat", "1", "--nodes", "200"], capsys)
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("model"))
    assert "fx ms" in header and "hooks ms" in header and "layout ms" in header
    row = next(line for line in lines if line.startswith("resnet20"))
    assert row.split()[1:3] == ["75", "9"]
    assert any(line.startswith("synthetic layout: 2") for line in lines)
