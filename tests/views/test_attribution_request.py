from __future__ import annotations

import pytest

from resviz.attribution import METHODS
from resviz.errors import ResvizError
from resviz.views.attribution import AttributionRequest, one_per_class, option_fields


def test_every_method_option_gets_a_field_from_its_description():
    for info in METHODS.values():
        fields = option_fields(info)
        assert [f.name for f in fields] == list(info.options)
        for field in fields:
            assert field.default == info.options[field.name]
            assert field.help == info.option_help.get(field.name, "")
    kinds = {(f.method, f.name): f for info in METHODS.values() for f in option_fields(info)}
    assert kinds["integrated_gradients", "n_steps"].kind == "int"
    assert kinds["integrated_gradients", "internal_batch_size"].optional
    assert kinds["saliency", "abs"].kind == "bool"
    assert kinds["smoothgrad", "nt_type"].kind == "choice"
    assert kinds["smoothgrad", "nt_type"].choices == METHODS["smoothgrad"].option_choices["nt_type"]
    assert kinds["gradient_shap", "stdevs"].kind == "float"
    assert kinds["occlusion", "window"].kind == "size" and kinds["occlusion", "window"].optional


def test_changes_emit_their_event_then_changed():
    request = AttributionRequest(methods=["saliency"])
    seen = []
    for event in request.events:
        event.connect(lambda *args, name=event.name: seen.append((name, args)))
    request.set_option("ig", "n_steps", 400)
    request.use_method("gradcam")
    request.layer = " layer2.0 "
    request.layer = "layer2.0"  # unchanged: nothing emitted
    request.set_source_choices([("model:0", "resnet20"), ("model:1", "plain20"), ("models", "both")], "models")
    request.set_sample_count(10, [3, 1, 12])
    assert seen == [
        ("options", ("integrated_gradients", "n_steps", 400)), ("changed", ()),
        ("methods", (("saliency", "grad_cam"),)), ("changed", ()),
        ("layer", ("layer2.0",)), ("changed", ()),
        ("sources", ()), ("source", ("models",)), ("changed", ()), ("changed", ()),
        ("samples", ((1, 3),)), ("changed", ()),
    ]
    # Only the chosen methods' changed options are given to the computation.
    assert request.method_options() == {}
    request.use_method("integrated_gradients")
    assert request.method_options() == {"integrated_gradients": {"n_steps": 400}}


def test_validation_gives_one_clear_message():
    request = AttributionRequest(methods=[])
    assert request.problem() == "Choose at least one method."
    request.methods = ["saliency"]
    assert request.problem() == "No model: open one in the window first."
    request.set_source_choices([("model:0", "resnet20")])
    assert request.problem() == "Pick at least one sample."
    request.set_sample_count(4, [0])
    assert request.problem() is None
    request.validate()
    with pytest.raises(ResvizError, match=r"integrated_gradients: option n_steps=0 must be a whole number"):
        request.set_option("integrated_gradients", "n_steps", 0)
    with pytest.raises(ResvizError, match="smoothgrad: option nt_type='loud' is not one of smoothgrad"):
        request.set_option("smoothgrad", "nt_type", "loud")
    with pytest.raises(ResvizError, match="saliency: unknown option 'steps'"):
        request.set_option("saliency", "steps", 3)
    with pytest.raises(ResvizError, match="no model choice 'models'"):
        request.source = "models"
    request.set_option("occlusion", "window", None)  # optional: the method's automatic value
    assert request.option("occlusion", "window") is None


def test_source_keys_follow_the_choice_of_models_runs_or_checkpoints():
    request = AttributionRequest()
    request.model_source_choices(["resnet20", "plain20"])
    assert [key for key, _ in request.source_choices] == ["model:0", "model:1", "models"]
    assert request.source_keys(2, []) == [("model", 0)] and request.checkpoint() is None
    request.source = "models"
    assert request.source_keys(2, []) == [("model", 0), ("model", 1)]

    steps = list(range(0, 100, 10))
    request.run_source_choices([("resnet20", steps)], chosen=50)
    assert request.source == "run:0:50" and request.checkpoint() == 50
    assert request.source_keys(0, [steps]) == [("run", 0, 50)]
    assert request.source_choices[0] == ("run:0:90", "checkpoint at step 90")  # newest first
    request.source = "checkpoints"
    across = request.source_keys(0, [steps])
    assert request.checkpoint() is None
    assert across[0] == ("run", 0, 0) and across[-1] == ("run", 0, 90) and len(across) == 6  # first, last, spread

    # The trained twins: side by side at their newest checkpoints, chosen at once.
    request.run_source_choices([("resnet20", [10, 20]), ("plain20", [10, 20, 30])])
    assert request.source == "runs" and request.checkpoint() is None
    assert request.source_keys(0, [[10, 20], [10, 20, 30]]) == [("run", 0, 20), ("run", 1, 30)]
    labels = dict(request.source_choices)
    assert labels["run:1:30"] == "plain20 · checkpoint at step 30" and "checkpoints" not in labels
    request.source = "run:1:10"
    assert request.source_keys(0, [[10, 20], [10, 20, 30]]) == [("run", 1, 10)] and request.checkpoint() == 10

    request.model_source_choices(["only"])
    assert [key for key, _ in request.source_choices] == ["model:0"]  # nothing to put side by side


def test_one_per_class_picks_the_first_sample_of_every_class():
    labels = [2, 2, 0, 5, 1, 0, 3, 4, 5, -1]
    assert one_per_class(labels, 4) == [2, 4, 0, 6, 7, 3]  # classes 0..5 in order; -1 (a file) never
    assert one_per_class(None, 4) == [0, 1, 2, 3]  # labels unknown: the first few
