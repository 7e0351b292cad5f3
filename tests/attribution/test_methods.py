"""``attribute`` gives what Captum gives with the same arguments, for every method."""

import threading

import numpy as np
import pytest
import torch
from captum.attr import (
    Deconvolution,
    DeepLift,
    GradientShap,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)
from torch import nn

from resviz.attribution import METHODS, AttributionCancelled, attribute, get_method, list_methods
from resviz.errors import ResvizError

from .conftest import no_hooks_left

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Captum's own notices on direct calls

TARGET = torch.tensor([1, 4, 2])


def captum_reference(name, model, x, target):
    """The same computation, called on Captum directly (on the eval-mode model)."""
    layer = model.layer3
    if name == "saliency":
        return Saliency(model).attribute(x, target=target, abs=True), None
    if name == "input_x_gradient":
        return InputXGradient(model).attribute(x, target=target), None
    if name == "integrated_gradients":
        return IntegratedGradients(model).attribute(x, target=target, n_steps=8, internal_batch_size=12,
                                                    return_convergence_delta=True)
    if name == "smoothgrad":
        torch.manual_seed(5)
        return NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=4, stdevs=0.3,
                                                      target=target, abs=True), None
    if name == "gradient_shap":
        torch.manual_seed(5)
        baselines = torch.zeros(1, *x.shape[1:])
        attributions, delta = GradientShap(model).attribute(x, baselines=baselines, n_samples=4, stdevs=0.1,
                                                            target=target, return_convergence_delta=True)
        return attributions, delta.reshape(len(x), 4).mean(1)
    if name == "deeplift":
        return DeepLift(model).attribute(x, target=target, return_convergence_delta=True)
    if name == "guided_backprop":
        return GuidedBackprop(model).attribute(x, target=target), None
    if name == "deconvolution":
        return Deconvolution(model).attribute(x, target=target), None
    if name == "grad_cam":
        cam = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(cam, (16, 16), interpolate_mode="bilinear"), None
    if name == "guided_grad_cam":
        return GuidedGradCam(model, layer).attribute(x, target=target), None
    if name == "occlusion":
        return Occlusion(model).attribute(x, sliding_window_shapes=(3, 4, 4), strides=(1, 2, 2), target=target,
                                          baselines=0.0, perturbations_per_eval=7), None
    raise AssertionError(name)


OPTIONS = {
    "integrated_gradients": {"n_steps": 8, "internal_batch_size": 12},
    "smoothgrad": {"nt_samples": 4, "stdevs": 0.3},
    "gradient_shap": {"n_samples": 4, "stdevs": 0.1},
    "occlusion": {"window": 4, "stride": 2, "perturbations_per_eval": 7},
}


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_equals_captum_called_directly(name, model, inputs):
    layer = "layer3" if METHODS[name].needs_layer else None
    seed = 5 if METHODS[name].stochastic else None
    result = attribute(model, inputs, TARGET, name, layer=layer, seed=seed, **OPTIONS.get(name, {}))
    expected, delta = captum_reference(name, model.eval(), inputs.clone(), TARGET)
    expected = expected.detach().numpy()
    assert result.raw.shape == expected.shape
    np.testing.assert_allclose(result.raw, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(result.maps, expected.sum(1), rtol=1e-4, atol=1e-5)
    assert result.maps.shape == (3, 16, 16) and result.maps.dtype == np.float32
    assert result.method == name and result.layer == layer
    assert result.target.tolist() == TARGET.tolist() and result.seconds > 0
    if delta is None:
        assert result.delta is None
    else:
        np.testing.assert_allclose(result.delta, delta.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_linear_model_saliency_is_abs_weight_and_ig_is_input_minus_baseline_times_weight():
    torch.manual_seed(3)
    linear = nn.Linear(2 * 5 * 5, 4)
    model = nn.Sequential(nn.Flatten(), linear).eval()
    x = torch.randn(2, 2, 5, 5)
    baseline = torch.randn(1, 2, 5, 5)
    target = [3, 1]
    weights = linear.weight.detach()[target].reshape(2, 2, 5, 5)

    saliency = attribute(model, x, target, "saliency")
    np.testing.assert_allclose(saliency.raw, weights.abs().numpy(), rtol=1e-6)

    ig = attribute(model, x, target, "ig", baseline=baseline, n_steps=7)
    np.testing.assert_allclose(ig.raw, ((x - baseline) * weights).numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ig.maps, ((x - baseline) * weights).sum(1).numpy(), rtol=1e-4, atol=1e-5)
    # Completeness: the attributions add up to the change of the target score.
    np.testing.assert_allclose(ig.delta, 0.0, atol=1e-4)


def test_target_none_explains_the_predicted_class(model, inputs):
    predicted = model(inputs).argmax(1)
    result = attribute(model, inputs, method="saliency")
    assert result.target.tolist() == predicted.tolist()
    explicit = attribute(model, inputs, predicted, "saliency")
    np.testing.assert_array_equal(result.raw, explicit.raw)


def test_one_integer_target_applies_to_every_input(model, inputs):
    result = attribute(model, inputs, 2, "input_x_gradient")
    assert result.target.tolist() == [2, 2, 2]


def test_aliases_and_the_registry():
    assert get_method("ig").name == "integrated_gradients"
    assert get_method("Grad-CAM").name == "grad_cam"
    assert get_method("SmoothGrad").name == "smoothgrad"
    assert list_methods() == list(METHODS) and len(METHODS) == 11
    with pytest.raises(ResvizError, match=r"unknown attribution method 'integrated_gradient_x'.*did you mean"):
        get_method("integrated_gradient_x")


def test_unknown_option_lists_the_methods_options(model, inputs):
    with pytest.raises(ResvizError, match=r"integrated_gradients: unknown option 'steps'.*n_steps"):
        attribute(model, inputs, method="ig", steps=3)


def test_layer_and_baseline_only_where_they_apply(model, inputs):
    with pytest.raises(ResvizError, match="saliency takes no layer"):
        attribute(model, inputs, method="saliency", layer="layer3")
    with pytest.raises(ResvizError, match="saliency takes no baseline"):
        attribute(model, inputs, method="saliency", baseline=0.5)


def test_target_out_of_range_names_the_number_of_outputs(model, inputs):
    with pytest.raises(ResvizError, match=r"target class 9 is out of range: the model has 6 outputs"):
        attribute(model, inputs, 9, "saliency")


def test_progress_reaches_one_and_cancel_stops_between_chunks(model, inputs):
    seen = []
    attribute(model, inputs, TARGET, "ig", n_steps=20, progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert len(seen) >= 10  # ten chunks were made for progress

    cancel = threading.Event()
    calls = []

    def progress(fraction):
        calls.append(fraction)
        if len(calls) == 2:
            cancel.set()

    with pytest.raises(AttributionCancelled):
        attribute(model, inputs, TARGET, "ig", n_steps=20, progress=progress, cancel=cancel)
    assert len(calls) == 2  # no forward pass ran after the cancel
    assert no_hooks_left(model)


@pytest.mark.parametrize("name", ["occlusion", "smoothgrad"])
def test_long_methods_honour_cancel(name, model, inputs):
    cancel = threading.Event()
    passes = []

    def progress(fraction):
        passes.append(fraction)
        cancel.set()

    with pytest.raises(AttributionCancelled):
        attribute(model, inputs, TARGET, name, progress=progress, cancel=cancel)
    assert len(passes) == 1


def test_the_users_model_is_left_as_it_was(model, inputs):
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for name in ("saliency", "deeplift", "grad_cam", "guided_backprop"):
        attribute(model, inputs, TARGET, name)
    assert all(m.training for m in model.modules())
    assert no_hooks_left(model)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BatchNorm statistics untouched
    assert all(p.grad is None for p in model.parameters())


def test_eval_mode_is_used_even_when_the_model_is_training(model, inputs):
    model.train()
    result = attribute(model, inputs[:1], [1], "saliency")
    expected = Saliency(model.eval()).attribute(inputs[:1].clone(), target=1, abs=True)
    np.testing.assert_allclose(result.raw, expected.numpy(), rtol=1e-5)


def test_weights_changed_in_place_are_seen(model, inputs):
    first = attribute(model, inputs, TARGET, "grad_cam")
    with torch.no_grad():
        model.fc.weight.mul_(-1.0)
    second = attribute(model, inputs, TARGET, "grad_cam")
    assert not np.allclose(first.raw, second.raw)


def test_stochastic_methods_repeat_with_a_seed_and_leave_the_global_generator(model, inputs):
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = attribute(model, inputs, TARGET, "smoothgrad", seed=7, nt_samples=3)
    assert torch.equal(torch.get_rng_state(), state)
    b = attribute(model, inputs, TARGET, "smoothgrad", seed=7, nt_samples=3)
    c = attribute(model, inputs, TARGET, "smoothgrad", seed=8, nt_samples=3)
    np.testing.assert_array_equal(a.raw, b.raw)
    assert not np.allclose(a.raw, c.raw)


def test_blur_baseline_differs_from_zero_baseline(model, inputs):
    zero = attribute(model, inputs, TARGET, "ig", n_steps=6)
    blur = attribute(model, inputs, TARGET, "ig", n_steps=6, baseline="blur")
    assert not np.allclose(zero.raw, blur.raw)
    with pytest.raises(ResvizError, match="baseline 'noise'"):
        attribute(model, inputs, TARGET, "ig", baseline="noise")


def test_inputs_of_another_size_or_channel_count_are_converted_or_refused(model):
    big = torch.rand(2, 3, 32, 32)
    result = attribute(model, big, [0, 1], "saliency")
    assert result.maps.shape == (2, 16, 16) and result.notes == ["resized 32x32 to 16x16"]
    grey = attribute(model, torch.rand(1, 16, 16), [0], "saliency")  # one (H, W) image
    assert grey.notes == ["converted grey to RGB"] and grey.raw.shape == (1, 3, 16, 16)
    with pytest.raises(ResvizError, match="images have 2 channels and the model expects 3"):
        attribute(model, torch.rand(1, 2, 16, 16), [0], "saliency")
    with pytest.raises(ResvizError, match=r"images are 3x32x32 \(C x H x W\) but the model expects 3x16x16"):
        attribute(model, big, [0, 1], "saliency", convert=False)
    with pytest.raises(ResvizError, match="inputs are torch.uint8"):
        attribute(model, torch.zeros(1, 3, 16, 16, dtype=torch.uint8), [0], "saliency")


def test_grad_cam_layer_errors_name_what_is_wrong(model, inputs):
    with pytest.raises(ResvizError, match=r"no layer 'layer3.0.conv3'; nearest: layer3.0.conv2, layer3.0.conv1, "):
        attribute(model, inputs, TARGET, "grad_cam", layer="layer3.0.conv3")
    with pytest.raises(ResvizError, match=r"Grad-CAM needs a layer with spatial output .* 'fc' has no spatial output"):
        attribute(model, inputs, TARGET, "grad_cam", layer="fc")
    result = attribute(model, inputs, TARGET, "guided_grad_cam", layer="layer2.0.conv1")
    assert result.layer == "layer2.0.conv1" and result.label == "Guided Grad-CAM (layer2.0.conv1)"


def test_layer_helpers_for_a_layer_picker(model):
    from resviz.attribution import grad_cam_layers, validate_layer

    layers = grad_cam_layers(model)
    assert layers[-1] == "layer3" and "layer2.0.conv1" in layers and "fc" not in layers and "avgpool" not in layers
    assert validate_layer(model, "layer2") == (1, 8, 8, 8)
    with pytest.raises(ResvizError, match="'avgpool' gives \\(N, 16, 1, 1\\)"):
        validate_layer(model, "avgpool")


def test_worker_threads_share_a_model_safely(model, inputs):
    expected = {name: attribute(model, inputs, TARGET, name).raw for name in ("saliency", "grad_cam", "deeplift")}
    results, errors = {}, []

    def work(name):
        try:
            for _ in range(3):
                results[name] = attribute(model, inputs, TARGET, name).raw
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for name, raw in expected.items():
        np.testing.assert_allclose(results[name], raw, rtol=1e-5, atol=1e-7)
