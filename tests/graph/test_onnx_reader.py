"""ONNX files: the graph read without running anything, skips and blocks as the traced module's."""

import warnings

import pytest
import torch

from resviz.cli import main
from resviz.errors import ResvizError
from resviz.graph import block_graph, find_skips, residual_blocks, skip_counts, trace_graph
from resviz.models import get_model, open_model

# Its module-scoped fixture is costly: one worker runs the module, once.
pytestmark = pytest.mark.xdist_group("onnx_reader")

onnx = pytest.importorskip("onnx", reason="the onnx package is not installed")

SMALL = {"depth": 8, "width": 8, "input_size": 16}


def export_onnx(model, path):
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and folding notes
        torch.onnx.export(model, (torch.randn(1, *model.input_shape),), str(path), dynamo=False)
    return path


@pytest.fixture(scope="module")
def zoo_onnx(tmp_path_factory):
    """(zoo model, its ONNX file) for option-A (zero-padding) and option-B (projection) shortcuts."""
    folder = tmp_path_factory.mktemp("onnx")
    files = {}
    for shortcut in ("A", "B"):
        torch.manual_seed(0)
        model = get_model("resnet20", shortcut=shortcut, **SMALL)
        files[shortcut] = (model, export_onnx(model, folder / f"resnet_{shortcut}.onnx"))
    return files


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_an_exported_zoo_resnet_has_the_traced_modules_skips_and_blocks(zoo_onnx, shortcut):
    model, path = zoo_onnx[shortcut]
    traced_skips = find_skips(trace_graph(model, torch.randn(1, *model.input_shape)))
    loaded = open_model(str(path))  # no trust needed: nothing runs
    opgraph = trace_graph(loaded.model)
    skips = find_skips(opgraph)
    assert opgraph.tracer == "onnx"
    assert skip_counts(skips) == skip_counts(traced_skips)
    assert set(skip_counts(skips)) == ({"identity", "zero_pad"} if shortcut == "A" else {"identity", "projection"})
    assert residual_blocks(skips) == residual_blocks(traced_skips) == ["layer1.0", "layer2.0", "layer3.0"]
    assert loaded.input_shape == model.input_shape


def test_blocks_collapse_by_the_node_name_scopes_and_keep_their_skips(zoo_onnx):
    _, path = zoo_onnx["A"]
    opgraph = trace_graph(open_model(str(path)).model)
    blocks = block_graph(opgraph, "blocks")
    boxes = {node for node, data in blocks.graph.nodes(data=True) if data["collapsed"]}
    assert boxes == {"layer1.0", "layer2.0", "layer3.0"}
    loops = {u: data["kind"] for u, v, data in blocks.graph.edges(data=True) if u == v}
    assert loops == {"layer1.0": "identity", "layer2.0": "zero_pad", "layer3.0": "zero_pad"}
    stages = block_graph(opgraph, "stages")
    assert {"layer1", "layer2", "layer3"} <= set(stages.graph.nodes)
    opened = block_graph(opgraph, "blocks", expand=["layer2.0"])
    assert "layer2.0.conv1.conv2d" in opened.graph.nodes and "layer2.0" not in opened.graph.nodes


def test_shapes_and_parameters_come_from_the_file(zoo_onnx):
    _, path = zoo_onnx["B"]
    proto = onnx.load(str(path))
    opgraph = trace_graph(open_model(str(path)).model)
    float_weights = sum(int(torch.Size(init.dims).numel()) for init in proto.graph.initializer
                        if init.data_type == onnx.TensorProto.FLOAT)
    assert opgraph.parameter_count == float_weights > 0
    assert opgraph.graph.nodes["layer2.0.add"]["shape"] == (1, 16, 8, 8)
    assert opgraph.graph.nodes["layer1.0.conv1.conv2d"]["flops"] > 0


def test_an_onnx_model_is_drawn_not_run(zoo_onnx):
    _, path = zoo_onnx["A"]
    model = open_model(str(path)).model
    with pytest.raises(ResvizError, match="drawn, not run"):
        model(torch.randn(1, 3, 16, 16))


def test_graph_command_reads_an_onnx_file(zoo_onnx, tmp_path, capsys):
    _, path = zoo_onnx["A"]
    assert main(["graph", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ONNX graph read from the file" in out
    assert "skips: 3 skip connections (1 identity, 2 zero-pad)" in out
    svg = tmp_path / "graph.svg"
    assert main(["graph", str(path), "--level", "blocks", "--out", str(svg)]) == 0
    assert "<svg" in svg.read_text()


def test_a_file_that_is_not_onnx_is_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07 not a protobuf \xff\xff")
    assert main(["graph", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "ONNX" in err[0]


def scoped_node(op_type, inputs, outputs, names, classes):
    """A node as the dynamo exporter writes it: its module stack in metadata, its name saying nothing."""
    node = onnx.helper.make_node(op_type, inputs, outputs, name=f"node_{outputs[0]}")
    for key, value in (("pkg.torch.onnx.name_scopes", repr(names)), ("pkg.torch.onnx.class_hierarchy", repr(classes))):
        node.metadata_props.add(key=key, value=value)
    return node


def test_the_dynamo_exporters_module_stack_gives_blocks_and_classes(tmp_path):
    model, block, conv = "my.models.Net", "my.models.Block", "torch.nn.modules.conv.Conv2d"
    nodes = [
        scoped_node("Conv", ["x", "w"], ["c"], ["", "stage", "stage.0", "stage.0.conv", "conv2d"],
                    [model, "torch.nn.modules.container.Sequential", block, conv, "aten.conv2d.default"]),
        scoped_node("Relu", ["c"], ["r"], ["", "stage", "stage.0", "relu"],
                    [model, "torch.nn.modules.container.Sequential", block, "aten.relu.default"]),
        scoped_node("Add", ["r", "x"], ["y"], ["", "stage", "stage.0", "add"],
                    [model, "torch.nn.modules.container.Sequential", block, "aten.add.Tensor"]),
    ]
    graph = onnx.helper.make_graph(
        nodes, "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4, 8, 8])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4, 8, 8])],
        initializer=[onnx.numpy_helper.from_array(torch.zeros(4, 4, 3, 3).numpy(), "w")])
    path = tmp_path / "dynamo.onnx"
    proto = onnx.helper.make_model(graph)
    proto.graph.node[0].attribute.append(onnx.helper.make_attribute("pads", [1, 1, 1, 1]))
    onnx.save(proto, str(path))
    loaded = open_model(str(path))
    opgraph = trace_graph(loaded.model)
    assert loaded.input_shape == (4, 8, 8)
    assert opgraph.model_type == "Net" and opgraph.module_types["stage.0"] == "Block"
    assert "stage.0.conv" in opgraph.leaf_modules and opgraph.parameter_count == 4 * 4 * 3 * 3
    skips = find_skips(opgraph)
    assert [(skip.kind, skip.block) for skip in skips] == [("identity", "stage.0")]
    assert opgraph.graph.nodes["stage.0.add"]["shape"] == (1, 4, 8, 8)  # a named batch is drawn as 1
    assert {n for n, data in block_graph(opgraph, "blocks").graph.nodes(data=True) if data["collapsed"]} == {"stage.0"}
