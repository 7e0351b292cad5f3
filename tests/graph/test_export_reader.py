"""torch.export programs (.pt2): loaded only on trust, drawn from the program, trainable as modules."""

import hashlib

import pytest
import torch

import resviz
from resviz.cli import main
from resviz.errors import TrustError
from resviz.graph import block_graph, find_skips, residual_blocks, skip_counts, trace_graph
from resviz.models import get_model, open_model
from resviz.runfile import open_run

# Its module-scoped fixture is costly: one worker runs the module, once.
pytestmark = pytest.mark.xdist_group("export_reader")

SMALL = {"depth": 8, "width": 8, "input_size": 16, "norm": "none"}


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """(zoo model, its .pt2 file): exported in training mode with a dynamic batch."""
    torch.manual_seed(0)
    model = get_model("resnet20", **SMALL)
    example = torch.randn(2, *model.input_shape)
    exported = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    path = tmp_path_factory.mktemp("pt2") / "resnet.pt2"
    torch.export.save(exported, str(path))
    return model, path


@pytest.fixture(scope="module")
def loaded(program):
    _, path = program
    return open_model(str(path), trust=True, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def test_loading_a_program_needs_trust(program, capsys):
    _, path = program
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(TrustError, match=f"pass --trust.*{digest}"):
        open_model(str(path))
    assert main(["graph", str(path)]) == 2
    assert "can run code" in capsys.readouterr().err
    with pytest.raises(TrustError, match="changed since it was trusted"):
        open_model(str(path), trust=True, expected_sha256="0" * 64)


def test_a_program_is_drawn_with_the_traced_modules_skips_and_blocks(program, loaded, capsys):
    model, path = program
    traced = trace_graph(model, torch.randn(1, *model.input_shape))
    opgraph = trace_graph(loaded.model)
    assert opgraph.tracer == "export" and opgraph.model_type == "ResNet"
    assert skip_counts(find_skips(opgraph)) == skip_counts(find_skips(traced)) == {"identity": 1, "zero_pad": 2}
    assert residual_blocks(find_skips(opgraph)) == ["layer1.0", "layer2.0", "layer3.0"]
    assert opgraph.parameter_count == sum(p.numel() for p in model.parameters())
    assert opgraph.module_types["layer1.0"] == "BasicBlock"
    blocks = block_graph(opgraph, "blocks")
    assert {n for n, data in blocks.graph.nodes(data=True) if data["collapsed"]} == {"layer1.0", "layer2.0",
                                                                                       "layer3.0"}
    assert loaded.input_shape == model.input_shape
    assert main(["graph", str(path), "--trust"]) == 0
    assert "torch.export program read from the file" in capsys.readouterr().out


def test_a_program_with_weights_trains_as_a_module(program, loaded, tmp_path):
    model, _ = program
    module = loaded.model
    x = torch.randn(4, *model.input_shape)
    torch.testing.assert_close(module(x), model(x))  # the same weights, the same function
    module.train()  # ExportedProgram.module() forbids it; the loaded module allows it
    names = [name for name, p in module.named_parameters() if p.requires_grad]
    assert names == [name for name, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01)
    run = tmp_path / "pt2.resviz"
    before = [p.detach().clone() for p in module.parameters()]
    with resviz.watch(module, run) as rec:
        for _ in range(2):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(module(x), torch.tensor([0, 1, 2, 3]))
            loss.backward()
            rec.step(loss=loss)
            optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
    reader = open_run(run)
    assert "layer1.0.conv1" in reader.layer_ids
    assert reader.block_ids == ["layer1.0", "layer2.0", "layer3.0"]
    steps = reader.read_steps()
    assert len(steps.step) == 2 and (steps.grad_norm > 0).all()
    reader.close()
