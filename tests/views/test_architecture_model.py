"""The architecture view model, without Qt: what is shown, navigation, search, gradient aggregation
and twins sharing one state."""

from __future__ import annotations

import math

import pytest
import torch

from resviz.errors import ResvizError
from resviz.graph import trace_graph
from resviz.models import get_model
from resviz.views import ArchitectureModel, ArchitectureViewState, ShownState, TwinArchitectureModel


def traced(name: str, **options):
    model = get_model(name, **options)
    return trace_graph(model, torch.zeros(1, *model.input_shape))


@pytest.fixture(scope="module")
def resnet20_graph():
    return traced("resnet20")


@pytest.fixture(scope="module")
def plain20_graph():
    return traced("plain20")


@pytest.fixture
def model(resnet20_graph) -> ArchitectureModel:
    model = ArchitectureModel()
    model.open_graph(resnet20_graph, "resnet20")
    return model


def recorder(emitter) -> list:
    calls: list = []
    emitter.connect(lambda *args: calls.append(args[0] if len(args) == 1 else args))
    return calls


def test_a_new_graph_opens_at_its_default_level_and_a_level_change_is_one_event_each(model):
    # 75 layers are too many to read in a pane; its 16 blocks are not
    assert model.level == "blocks" and not model.state.level_chosen
    assert "layer2.0" in model.layout.nodes and "layer2.0.conv1" not in model.layout.nodes
    levels, shown = recorder(model.state.events.level), recorder(model.state.events.shown)
    drawn = recorder(model.events.drawn)
    model.set_level("layers")
    assert levels == ["layers"] and shown == [ShownState("layers")]
    assert model.needs_drawing() and drawn == []  # the model asks; whoever shows it draws
    model.draw_now()
    assert len(drawn) == 1 and drawn[0].shown == ShownState("layers")
    assert "layer2.0.conv1" in model.layout.nodes
    model.set_level("blocks")
    model.set_level("blocks")  # the same level again: nothing changed, nothing emitted
    assert levels == ["layers", "blocks"] and len(shown) == 2
    with pytest.raises(ResvizError, match="'ops2' is not one of stages, blocks, layers"):
        model.set_level("ops2")
    assert model.level == "blocks"


def test_expand_and_collapse(model):
    model.set_level("blocks")
    model.draw_now()
    blocks = len(model.layout.nodes)
    focus = recorder(model.state.events.expansions)
    assert model.is_expandable("layer2.0") and model.expand("layer2.0")
    assert focus == ["layer2.0"] and model.state.expanded == ("layer2.0",)
    model.draw_now()
    assert "layer2.0.conv1" in model.layout.nodes and "layer2.0" not in model.layout.nodes
    assert model.visible_node_for("layer2.0.conv1") == "layer2.0.conv1"
    assert not model.expand("layer2.0.conv1")  # a leaf has nothing to show
    assert model.enclosing_module("layer2.0.conv1") == "layer2.0"
    assert model.collapse("layer2.0")
    model.draw_now()
    assert len(model.layout.nodes) == blocks and model.state.expanded == ()
    assert not model.collapse("layer2.0")  # already one box
    assert model.collapse("layer2")  # a whole stage as one box, its skips kept as a bypass loop
    model.draw_now()
    assert len(model.layout.nodes) == blocks - 2
    assert model.visible_node_for("layer2.1.conv2") == "layer2"
    assert {kind for source, target, kind in model.skip_edges() if source == target == "layer2"} <= {"identity",
                                                                                                     "zero_pad"}
    model.set_level("layers")  # a level clears single expansions and collapses
    assert model.state.expanded == model.state.collapsed == ()


def test_fold_is_applied_whenever_it_is_on(model, resnet20_graph):
    model.set_level("blocks")
    model.draw_now()
    folds = recorder(model.state.events.fold)
    model.state.fold = True
    assert folds == [True] and model.wanted().fold
    model.draw_now()
    folded = {n: box.folded for n, box in model.layout.nodes.items() if box.folded > 1}
    assert folded == {"layer1.0": 3, "layer2.1": 2, "layer3.1": 2}
    assert model.visible_node_for("layer1.2.conv1") == "layer1.0"  # inside the folded run
    # Revealing a block inside a folded run unfolds (the run hides which block is which).
    model.reveal("layer1.2.conv1")
    assert folds == [True, False] and model.state.expanded == ("layer1.2.conv1",)
    model.draw_now()
    assert "layer1.2.conv1" in model.layout.nodes and not any(box.folded > 1 for box in model.layout.nodes.values())
    # A new graph keeps the tick and draws folded from its first drawing on.
    model.state.fold = True
    model.open_graph(resnet20_graph, "again")
    assert model.drawn.shown.fold and any(box.folded > 1 for box in model.layout.nodes.values())


def test_a_chosen_level_survives_a_new_graph_a_default_does_not(resnet20_graph):
    model = ArchitectureModel()
    model.open_graph(traced("resnet110"), "resnet110")
    assert model.level == "stages"  # 54 blocks unfolded: too many to read
    model.state.fold = True
    model.open_graph(traced("resnet110"), "resnet110 folded")
    assert model.level == "blocks"  # folded, its blocks read well
    model.state.fold = False
    model.open_graph(resnet20_graph, "resnet20")
    assert model.level == "blocks"  # nobody chose: the new graph's own default
    model.set_level("stages")
    model.draw_now()
    model.state.selected = "layer1"
    assert model.expand("layer1")
    model.open_graph(resnet20_graph, "resnet20 again")
    assert model.level == "stages" and model.drawn.shown.level == "stages"
    # a re-trace keeps what was opened and selected (names the graph has)
    assert model.state.selected == "layer1" and model.state.expanded == ("layer1",)
    assert "layer1.0" in model.layout.nodes
    plain = traced("plain20")
    model.open_graph(plain, "plain20")  # a twin of the family has layer1 too
    assert model.state.expanded == ("layer1",) and "layer1.0" in model.layout.nodes


def test_selection_search_and_navigation(model):
    model.set_level("blocks")
    model.draw_now()
    selected = recorder(model.state.events.selected)
    model.select("layer2.0.conv1")
    assert selected == ["layer2.0.conv1"] and model.selected_node() == "layer2.0"  # its block is collapsed
    model.select("layer2.0.conv1")
    assert selected == ["layer2.0.conv1"]  # unchanged: no event
    model.select("layer3.1.conv2", reveal=True)
    model.draw_now()
    assert model.selected_node() == "layer3.1.conv2" and model.state.expanded == ("layer3.1.conv2",)
    assert model.module_of("layer1.0.add") == "layer1.0" and model.module_of("layer1.0.conv1") == "layer1.0.conv1"
    assert model.module_of("nothing.here") is None
    assert model.search("conv2")[:2] == ["layer1.0.conv2", "layer1.1.conv2"]
    assert model.search("LAYER2.0.CONV1")[0] == "layer2.0.conv1"  # exact match first, any case
    assert model.search("layer1.0.add") == ["layer1.0.add"]
    assert model.search("no such layer") == [] and model.search("  ") == []
    model.select(None)
    assert selected[-1] is None and model.selected_node() is None


def test_a_module_without_ops_has_a_stand_in():
    model = ArchitectureModel()
    model.open_graph(traced("resnet20", norm="none"), "no norm")  # each bn is an nn.Identity: no op, no box
    model.set_level("blocks")
    model.draw_now()
    assert not model.has_ops("layer2.0.bn1") and model.has_ops("layer2.0") and model.has_ops("layer2.0.add")
    assert model.stand_in_for("layer2.0.bn1") == "layer2.0"  # its block, while collapsed
    model.reveal("layer2.0.bn1")
    model.draw_now()
    assert model.stand_in_for("layer2.0.bn1") == "layer2.0.relu1"  # the next op on its path
    assert model.stand_in_for("layer1.2.bn2") == "layer1.2"


def test_gradients_aggregate_onto_visible_boxes_and_skip_edges(model, resnet20_graph):
    model.set_level("blocks")
    model.draw_now()
    layers = [name for name, params in resnet20_graph.module_params.items()
              if params and name in resnet20_graph.leaf_modules]
    norms = {name: 10.0 ** (-4 + 4 * i / len(layers)) for i, name in enumerate(layers)}
    events = recorder(model.events.gradients)
    model.set_gradients(layer_norms=norms)
    assert len(events) == 1 and model.coloured
    node_norms = model.node_norms()
    inside = [v for k, v in norms.items() if k.startswith("layer2.1.")]
    assert node_norms["layer2.1"] == pytest.approx(math.sqrt(sum(v * v for v in inside)))  # L2 of its layers
    assert node_norms["conv1"] == norms["conv1"]
    assert model.node_norm("layer2.1.conv1") == norms["layer2.1.conv1"]  # a layer inside keeps its own
    assert model.colour_levels() == pytest.approx((math.log10(min(node_norms.values())),
                                                   math.log10(max(node_norms.values()))))
    model.set_gradients(levels=(-8.0, 2.0))
    assert model.colour_levels() == (-8.0, 2.0) and model.layer_norms == norms  # the norms stay
    # Expanding a block moves its layers' norms onto their own boxes.
    model.expand("layer2.1")
    model.draw_now()
    assert "layer2.1" not in model.node_norms() and model.node_norms()["layer2.1.conv1"] == norms["layer2.1.conv1"]
    # A skip carries the gradient at its block's output; a folded run the mean of its blocks'.
    model.set_gradients(block_norms={"layer1.0": 1e-6, "layer1.1": 1e-4, "layer3.2": 1.0})
    assert model.edge_norms() == {("layer1.0", "layer1.0"): 1e-6, ("layer1.1", "layer1.1"): 1e-4,
                                  ("layer3.2", "layer3.2"): 1.0}
    model.state.fold = True
    model.draw_now()
    assert model.edge_norms()[("layer1.0", "layer1.0")] == pytest.approx((1e-6 + 1e-4) / 2)
    # NaN and Inf are kept, never dropped or hidden in a sum.
    model.set_gradients(layer_norms={**norms, "layer3.0.conv1": float("nan")})
    assert math.isnan(model.node_norms()["layer3.0"])
    model.set_gradients(layer_norms=None, block_norms=None)
    assert model.node_norms() == {} and model.colour_levels() is None and not model.coloured


def test_marked_modules_show_on_the_box_that_draws_them(model):
    marked = recorder(model.events.marked)
    model.set_marked({"layer2.0", "layer3.1.conv2"})
    model.set_marked(["layer3.1.conv2", "layer2.0"])   # the same set: no event
    assert len(marked) == 1 and model.marked == {"layer2.0", "layer3.1.conv2"}
    assert model.marked_nodes() == {"layer2.0", "layer3.1"}   # a layer inside a collapsed block marks it
    model.set_level("layers")
    model.draw_now()
    assert model.marked_nodes() == {"layer3.1.conv2"}   # an expanded block has no box of its own
    model.set_marked(())
    assert model.marked_nodes() == set() and len(marked) == 2


def test_details_say_what_the_pane_shows(model):
    model.set_level("blocks")
    model.draw_now()
    summary = model.summary()
    assert summary.title == "resnet20" and summary.level == "blocks" and summary.boxes == len(model.layout.nodes)
    assert summary.skips == "7 identity, 2 zero-pad (option A)" and summary.tracer.startswith("fx")
    block = model.details("layer2.0")
    assert ("kind", "BasicBlock") in block.rows and block.expandable and block.part_of == ("layer2", "Sequential")
    assert block.skips == ["zero-pad (option A): layer1.2.relu2 → layer2.0.add"]
    assert block.children[:2] == ["layer2.0.conv1", "layer2.0.bn1"]
    inner = model.details("layer2.0.conv1")
    assert inner.inside == "layer2.0" and ("kind", "Conv2d") in inner.rows and not inner.expandable
    model.set_gradients(layer_norms={"layer2.0.conv1": 0.25})
    assert ("gradient norm", "0.25") in model.details("layer2.0.conv1").rows


def test_twins_share_what_is_shown_and_one_colour_scale(resnet20_graph, plain20_graph):
    twin = TwinArchitectureModel()
    plain, residual = twin.plain, twin.residual
    assert plain.state is residual.state is twin.state
    plain.open_graph(plain20_graph, "plain20")
    residual.open_graph(resnet20_graph, "resnet20")
    assert plain.level == residual.level == "blocks"
    plain.set_level("layers")
    assert residual.level == "layers" and residual.needs_drawing()
    plain.set_level("blocks")
    for model in twin.models:
        model.draw_now()
    assert residual.expand("layer3.0")
    assert plain.needs_drawing()  # the other twin follows the shared state
    plain.draw_now()
    assert "layer3.0.conv1" in plain.layout.nodes
    residual.select("layer3.0.conv2")
    assert plain.state.selected == "layer3.0.conv2" and plain.selected_node() == "layer3.0.conv2"
    assert twin.search("layer3.0.conv2")[0] == "layer3.0.conv2"
    # A name only one twin has is drawn by that one and ignored by the other.
    residual.state.expand("layer2.0.downsample")
    assert "layer2.0.downsample" in residual.wanted().expanded and "layer2.0.downsample" not in plain.wanted().expanded
    # One log10 scale for both: the plain net's vanishing gradient and the residual one's healthy one.
    rescaled = recorder(plain.events.scale)
    twin.set_gradients(plain_layer_norms={"conv1": 1e-7, "fc": 1e-1}, residual_layer_norms={"conv1": 1e-2, "fc": 1.0})
    assert plain.colour_levels() == residual.colour_levels() == twin.colour_levels() == pytest.approx((-7.0, 0.0))
    assert rescaled == []  # both sides were told once, by their own gradients event
    residual.set_gradients(block_norms={"layer1.0": 1e-9})  # the residual skips widen the shared scale
    assert len(rescaled) == 1 and plain.colour_levels() == pytest.approx((-9.0, 0.0))
    twin.set_levels((-3.0, 1.0))
    assert plain.colour_levels() == residual.colour_levels() == (-3.0, 1.0)
    twin.set_gradients(plain_layer_norms=None, residual_layer_norms=None, residual_block_norms=None)
    assert twin.colour_levels() is None and plain.colour_levels() is None


def test_twins_open_at_the_finer_of_their_defaults_unless_a_level_was_chosen(resnet20_graph):
    state = ArchitectureViewState()
    twin = TwinArchitectureModel(state)
    big = traced("resnet110")
    twin.plain.open_graph(big, "resnet110")
    assert state.level == "stages"
    twin.residual.open_graph(resnet20_graph, "resnet20")
    assert state.level == "blocks" and twin.plain.needs_drawing()  # the finer, so the twins line up
    twin.plain.expect_graph("next")  # a re-trace: the old default no longer counts
    twin.plain.open_graph(big, "resnet110 again")
    assert state.level == "blocks"
    state.set_level("stages")
    twin.residual.open_graph(resnet20_graph, "resnet20 again")
    assert state.level == "stages" and twin.residual.drawn.shown.level == "stages"


def test_restore_puts_back_what_is_drawn(model):
    model.set_level("blocks")
    model.draw_now()
    model.expand("layer1.0")
    model.draw_now()
    drawn = model.drawn.shown
    shown = recorder(model.state.events.shown)
    model.state.fold = True
    model.set_level("stages")
    model.state.restore(drawn)
    assert model.state.shown() == drawn and not model.needs_drawing()
    assert shown[-1] == drawn
