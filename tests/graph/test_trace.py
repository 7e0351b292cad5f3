import threading

import pytest
import torch
from torch import nn

from resviz.errors import ResvizError
from resviz.graph import ForwardError, trace_graph
from resviz.graph.hooks import hook_count
from resviz.models import count_parameters, get_model

from .seed_models import (
    DataDependent,
    IdentityShortcutStack,
    InPlaceStatement,
    InPlaceThroughIdentity,
    NoParameters,
    RaisesInForward,
    SharedBlock,
    SimpleResBlock,
    TupleAndDict,
    TwoInputs,
)


def meta_model(name, **options):
    with torch.device("meta"):
        return get_model(name, **options)


def function_mode_depth() -> int:
    return torch._C._len_torch_function_stack()


def test_resnet20_nodes_carry_names_ops_shapes_params_and_flops():
    model = get_model("resnet20")
    graph = trace_graph(model)
    assert (graph.tracer, graph.fallback_reason, graph.device) == ("fx", None, "meta")
    nodes = graph.graph.nodes
    conv = nodes["layer2.0.conv1"]
    assert (conv["kind"], conv["op"], conv["module"], conv["module_type"]) == ("module", "Conv2d", "layer2.0.conv1",
                                                                               "Conv2d")
    assert conv["shape"] == (1, 32, 16, 16)
    assert conv["params"] == 16 * 32 * 9
    assert conv["flops"] == 2 * 32 * 16 * 16 * 16 * 9
    add = nodes["layer2.0.add"]
    assert (add["kind"], add["op"], add["module"], add["module_type"]) == ("function", "add", "layer2.0", "BasicBlock")
    assert set(graph.graph.predecessors("layer2.0.add")) == {"layer2.0.bn2", "layer2.0.downsample.pad"}
    assert nodes["fc"]["shape"] == (1, 10)
    # Every parameter is counted once, on the node that uses it.
    assert sum(d["params"] for _, d in graph.graph.nodes(data=True)) == count_parameters(model)
    assert graph.parameter_count == count_parameters(model)
    assert graph.module_types["layer1.0"] == "BasicBlock"
    assert graph.module_children["layer1"] == ["layer1.0", "layer1.1", "layer1.2"]
    assert graph.inputs == ["input"] and graph.outputs == ["output"]


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "densenet", "mlp_residual", "preact_resnet20", "simple_cnn"])
def test_both_tracers_agree_on_zoo_models(name):
    model = meta_model(name)
    fx_graph = trace_graph(model, tracer="fx")
    hooks_graph = trace_graph(model, tracer="hooks")
    assert hooks_graph.tracer == "hooks"
    assert set(fx_graph.graph.nodes) == set(hooks_graph.graph.nodes)
    assert set(fx_graph.graph.edges) == set(hooks_graph.graph.edges)
    for node in fx_graph.graph:
        assert fx_graph.graph.nodes[node]["shape"] == hooks_graph.graph.nodes[node]["shape"], node


def test_fallback_runs_data_dependent_control_flow_and_says_why_fx_failed():
    model = DataDependent()
    with torch.no_grad():
        model.fc1.weight.fill_(0.1)
        model.fc1.bias.fill_(1.0)  # a positive sum: the fc2 branch
    graph = trace_graph(model, torch.ones(2, 8))
    assert graph.tracer == "hooks"
    assert "torch.fx cannot trace DataDependent.forward" in graph.fallback_reason
    assert "control flow" in graph.fallback_reason
    assert graph.device == "cpu"  # a data-dependent branch cannot run on meta
    assert "fc2" in graph.graph and "fc3" not in graph.graph
    assert list(graph.graph.successors("fc1")) == ["fc2"]  # the test itself (sum, gt) is not data flow
    assert set(graph.graph.predecessors("add")) == {"relu", "input"}


def test_tracing_leaves_the_model_as_it_was():
    model = get_model("resnet20")
    model.train()
    model.layer1[0].eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trace_graph(model, torch.randn(4, 3, 32, 32), tracer="hooks")
    trace_graph(model, torch.randn(4, 3, 32, 32))
    assert model.training and not model.layer1[0].training and model.layer1[1].training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats untouched
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert hook_count(model) == 0 and function_mode_depth() == 0


def test_hooks_are_removed_after_an_exception():
    model = RaisesInForward()
    for tracer in ("auto", "hooks"):
        with pytest.raises(ForwardError, match=r"body\.1 \(Raiser\): forward raised ValueError: this layer is not"):
            trace_graph(model, torch.randn(1, 4), tracer=tracer)
        assert hook_count(model) == 0
        assert function_mode_depth() == 0


def test_a_module_returning_a_tuple_and_a_dict():
    for tracer in ("fx", "hooks"):
        graph = trace_graph(TupleAndDict(), torch.randn(1, 4), tracer=tracer)
        nodes = graph.graph.nodes
        assert nodes["enc.lstm"]["shape"] == [(1, 1, 4), (1, 1, 4), (1, 1, 4)]
        assert set(graph.graph.predecessors("add")) == {"enc.squeeze", "input"}
        assert nodes["output"]["shape"] == [(1, 2), (1, 4)]
        assert set(graph.graph.predecessors("output")) == {"head", "enc.squeeze"}


def test_model_without_parameters():
    graph = trace_graph(NoParameters(), torch.randn(2, 5))
    assert graph.parameter_count == 0
    assert [n for n in graph.graph if graph.graph.nodes[n]["kind"] == "function"] == ["tanh", "mul", "add"]


def test_in_place_add_statement_feeds_later_readers():
    for tracer in ("fx", "hooks"):
        graph = trace_graph(InPlaceStatement(), torch.randn(1, 6), tracer=tracer)
        assert list(graph.graph.predecessors("act")) == ["add"]
        assert set(graph.graph.predecessors("add")) == {"fc", "input"}


def test_a_module_called_twice_gets_one_node_per_call():
    graph = trace_graph(SimpleResBlock(), torch.randn(1, 3, 5, 5))
    assert list(graph.graph.nodes) == ["input", "conv", "relu", "add", "output"]
    shared = trace_graph(SharedBlock(), torch.randn(1, 3, 8, 8))
    assert {"block.conv", "block.conv:1", "block.add", "block.add_1"} <= set(shared.graph.nodes)
    assert shared.graph.nodes["block.conv:1"]["params"] == 0  # shared weights are counted once


def test_example_inputs_in_every_form():
    model = get_model("mnist_resnet")
    assert trace_graph(model).graph.nodes["input"]["shape"] == (1, 1, 28, 28)  # from model.input_shape
    assert trace_graph(model, (2, 1, 28, 28)).graph.nodes["input"]["shape"] == (2, 1, 28, 28)
    two = trace_graph(TwoInputs(), (torch.randn(1, 4), torch.randn(1, 4)))
    assert two.inputs == ["input", "input_1"]
    with pytest.raises(ResvizError, match="needs a torch.nn.Module"):
        trace_graph("resnet20")
    with pytest.raises(ResvizError, match="no example input given"):
        trace_graph(nn.Linear(2, 2))
    with pytest.raises(ResvizError, match="tracer 'jit'"):
        trace_graph(model, tracer="jit")


def test_resnet1202_traces_on_meta():
    graph = trace_graph(meta_model("resnet1202"))
    assert graph.device == "meta"
    assert graph.graph.number_of_nodes() == 4212
    assert graph.graph.nodes["layer3.199.add"]["shape"] == (1, 64, 8, 8)


def test_the_model_stays_usable_in_another_thread_while_it_is_traced():
    model = get_model("resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
    errors: list[BaseException] = []
    runs = [0]
    done = threading.Event()

    def attribution_elsewhere():
        try:
            while not done.is_set() or runs[0] == 0:
                with torch.no_grad():
                    assert torch.allclose(model(x), expected)
                runs[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=attribution_elsewhere)
    thread.start()
    try:
        for tracer in ("fx", "hooks", "fx"):
            graph = trace_graph(model, tracer=tracer)
            assert graph.graph.number_of_nodes() == 75 and graph.device == "meta"
    finally:
        done.set()
        thread.join()
    assert not errors and runs[0] > 0


def test_the_models_own_hooks_neither_fire_nor_go():
    model = get_model("resnet20")
    calls = []
    handle = model.layer1[0].register_forward_hook(lambda module, args, output: calls.append(output.shape))
    try:
        trace_graph(model, tracer="fx")
        trace_graph(model, tracer="hooks")
        assert calls == []
        assert hook_count(model) == 1
        model(torch.randn(1, 3, 32, 32))
        assert calls == [(1, 16, 32, 32)]
    finally:
        handle.remove()


def test_a_model_whose_tree_cannot_be_copied_is_traced_in_place_and_restored(monkeypatch):
    from resviz.graph import execution

    def refuse(model, mode):
        raise TypeError("no bare instances of this class")

    monkeypatch.setattr(execution, "clone_module_tree", refuse)
    model = get_model("resnet20")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for tracer in ("fx", "hooks"):
        graph = trace_graph(model, tracer=tracer)
        assert graph.device == "meta" and graph.graph.number_of_nodes() == 75
    with pytest.raises(ForwardError):
        trace_graph(model, torch.randn(1, 1, 32, 32))
    state = model.state_dict()
    assert all(v.device.type == "cpu" and torch.equal(before[k], v) for k, v in state.items())
    assert model.training and hook_count(model) == 0 and function_mode_depth() == 0


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_identity_layers_make_no_nodes_but_stay_in_the_module_tree(tracer):
    graph = trace_graph(IdentityShortcutStack(), torch.randn(1, 4, 6, 6), tracer=tracer)
    assert list(graph.graph.nodes) == ["input", "blocks.0.conv", "blocks.0.relu", "blocks.0.add", "blocks.1.conv",
                                       "blocks.1.relu", "blocks.1.add", "head", "output"]
    edges = set(graph.graph.edges)
    assert {("blocks.0.conv", "blocks.0.relu"), ("input", "blocks.0.add"), ("blocks.0.add", "blocks.1.add"),
            ("head", "output")} <= edges  # each Identity's input goes straight to its consumers
    assert graph.module_types["blocks.0.shortcut"] == graph.module_types["last"] == "Identity"
    assert graph.module_children["blocks.0"] == ["blocks.0.conv", "blocks.0.bn", "blocks.0.shortcut"]
    assert graph.no_op_modules == {"blocks.0.bn", "blocks.0.shortcut", "blocks.1.bn", "blocks.1.shortcut", "last"}
    assert graph.parameter_count == sum(d["params"] for _, d in graph.graph.nodes(data=True)) == 2 * 148 + 10


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_a_model_that_is_an_identity_or_ends_in_one(tracer):
    for model in (nn.Identity(), nn.Sequential(nn.Identity()), nn.Sequential(nn.Identity(), nn.Identity())):
        graph = trace_graph(model, torch.randn(2, 4), tracer=tracer)
        assert list(graph.graph.edges) == [("input", "output")]
        assert graph.graph.nodes["output"]["shape"] == (2, 4)
    graph = trace_graph(nn.Sequential(nn.Linear(4, 3), nn.Identity()), torch.randn(2, 4), tracer=tracer)
    assert list(graph.graph.edges) == [("input", "0"), ("0", "output")]
    assert graph.graph.nodes["output"]["shape"] == (2, 3)


def test_an_in_place_op_on_an_identitys_output_changes_its_input_too():
    for tracer in ("fx", "hooks"):
        graph = trace_graph(InPlaceThroughIdentity(), torch.randn(1, 6), tracer=tracer)
        assert list(graph.graph.predecessors("act")) == ["add"], tracer
        assert set(graph.graph.predecessors("add")) == {"fc", "input"}


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "densenet", "preact_resnet20", "cifar_small_resnet"])
def test_without_norm_layers_each_identity_norm_drops_one_node_and_both_tracers_agree(name):
    normed = trace_graph(meta_model(name))
    fx_graph = trace_graph(meta_model(name, norm="none"), tracer="fx")
    hooks_graph = trace_graph(meta_model(name, norm="none"), tracer="hooks")
    norms = [n for n, data in normed.graph.nodes(data=True) if data["kind"] == "module" and "Norm" in data["op"]]
    assert norms and fx_graph.no_op_modules == set(norms)
    assert fx_graph.graph.number_of_nodes() == normed.graph.number_of_nodes() - len(norms)
    assert not any(data["op"] == "Identity" for _, data in fx_graph.graph.nodes(data=True))
    assert set(fx_graph.graph.nodes) == set(hooks_graph.graph.nodes)
    assert set(fx_graph.graph.edges) == set(hooks_graph.graph.edges)
    assert all(fx_graph.module_types[n] == "Identity" for n in norms)
