import numpy as np
import pytest
import torch
from matplotlib.image import imread

from resviz.attribution import attribute
from resviz.attribution.compare import compare_checkpoints, compare_methods, compare_models
from resviz.attribution.figures import comparison_figure, figure_to_array, save_comparison
from resviz.errors import ResvizError

from .conftest import tiny_resnet

CLASSES = ["circle", "square", "triangle", "cross", "ring", "stripes"]


def test_methods_grid_holds_each_methods_maps_for_the_predicted_class(model, inputs):
    grid = compare_methods(model, inputs, ["saliency", ("ig", {"n_steps": 6}), "grad_cam"], labels=[0, 1, 2],
                           class_names=CLASSES, seed=0)
    assert grid.shape == (3, 3) and grid.kind == "methods"
    assert grid.column_labels == ["Saliency", "Integrated Gradients", "Grad-CAM (layer3)"]
    assert grid.row_labels == ["#0: circle", "#1: square", "#2: triangle"]
    predicted = model(inputs).argmax(1)
    for result in grid.results:
        assert result.target.tolist() == predicted.tolist()
    expected = attribute(model, inputs, predicted, "ig", n_steps=6)
    np.testing.assert_allclose(grid.panels[1][1].map, expected.maps[1], rtol=1e-5)
    assert grid.panels[0][2].sign == "positive" and grid.panels[0][1].sign == "all"
    assert grid.panels[0][0].caption.startswith(f"pred {CLASSES[int(predicted[0])]} ")
    pictures = grid.pictures()
    assert pictures[2][0].shape == (16, 16, 3) and pictures[2][0].dtype == np.uint8


def test_methods_grid_reports_progress_over_all_methods(model, inputs):
    seen = []
    compare_methods(model, inputs[:1], ["saliency", "grad_cam"], progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen) and any(0.4 < f <= 0.5 for f in seen)


def test_models_comparison_explains_each_models_own_prediction(inputs):
    torch.manual_seed(0)
    residual = tiny_resnet()
    plain = tiny_resnet(residual=False)
    grid = compare_models({"resnet": residual, "plain": plain}, inputs, "grad_cam", class_names=CLASSES)
    assert grid.column_labels == ["resnet", "plain"] and grid.shape == (3, 2)
    assert grid.results[1].target.tolist() == plain(inputs).argmax(1).tolist()
    assert not np.allclose(grid.panels[0][0].map, grid.panels[0][1].map)
    labelled = compare_models({"resnet": residual, "plain": plain}, inputs, "saliency", labels=[5, 4, 3])
    assert all(r.target.tolist() == [5, 4, 3] for r in labelled.results)


def test_checkpoints_comparison_explains_one_class_and_leaves_the_model_alone(model, inputs):
    torch.manual_seed(1)
    early = {k: v.clone() for k, v in tiny_resnet().state_dict().items()}
    late = {k: v.clone() for k, v in model.state_dict().items()}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grid = compare_checkpoints(model, [("step 0", early), ("step 100", late)], inputs, "saliency", labels=[1, 2, 3])
    assert grid.column_labels == ["step 0", "step 100"]
    assert all(r.target.tolist() == [1, 2, 3] for r in grid.results)
    np.testing.assert_allclose(grid.panels[2][1].map, attribute(model, inputs, [1, 2, 3]).maps[2], rtol=1e-5)
    assert not np.allclose(grid.panels[0][0].map, grid.panels[0][1].map)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    broken = {k: v for k, v in late.items() if k != "fc.weight"}
    with pytest.raises(ResvizError, match=r"checkpoint broken does not fit the model: .*fc.weight"):
        compare_checkpoints(model, [("broken", broken)], inputs, "saliency")


def test_grid_figure_is_a_labelled_png(tmp_path, model, inputs):
    grid = compare_methods(model, inputs, ["saliency", "grad_cam"], class_names=CLASSES, title="Demo")
    path = save_comparison(grid, tmp_path / "grid.png", dpi=60, subtitle="sub")
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 150 and image.shape[1] > 200
    # The figure is mostly white paper with coloured panels on it.
    assert (image[..., :3] > 0.97).all(-1).mean() > 0.3
    drawn = figure_to_array(comparison_figure(grid, dpi=40))
    assert drawn.dtype == np.uint8 and drawn.shape[2] == 3
    with pytest.raises(ResvizError, match="figures are saved as PNG"):
        save_comparison(grid, tmp_path / "grid.jpg")
    with pytest.raises(ResvizError, match="does not exist"):
        save_comparison(grid, tmp_path / "missing" / "grid.png")
