"""``vanishing``: Plain-20 against ResNet-20, both without normalisation layers.

Without norm layers nothing rescales the signal between layers, so in the plain net the
gradient shrinks by a factor at every layer on its way back to the input; the residual net's
shortcuts carry it back undiminished. The preset trains both twins from one seed on the same
data order and checks three things from their run files: the plain net's first-layer gradient
is orders of magnitude below its last layer's, the residual net's is not, and the residual net
reaches the higher test accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runfile import open_run
from ..train.config import TrainConfig
from ..train.twins import twin_configs
from .base import Claim, Preset, PresetOptions, PresetResult, ProgressCallback, train_one
from .figures import new_figure, plot_curves, plot_depth_profile, save_figure

# "Orders of magnitude": the plain net's first/last ratio must be below 1/100, the residual
# net's above it. Measured (full budget, seeds 0-2): plain ~1e-9 to 1e-6, residual 0.1 to 1.
ORDERS_OF_MAGNITUDE = 1e-2
BUDGETS = {
    "full": dict(epochs=5, train_samples=3000, test_samples=600),
    "quick": dict(epochs=4, train_samples=1000, test_samples=300, model_options={"input_size": 16}),
}


def gradient_ratio(path: Path) -> tuple[float, np.ndarray, list[str]]:
    """(median over steps of ‖g_first‖ / ‖g_last‖, the median norm per layer, the layer ids)."""
    with open_run(path) as reader:
        steps = reader.read_steps()
        layers = reader.layer_ids
    norms = steps.grad_norm.astype(np.float64)
    finite = np.isfinite(norms).all(axis=1)
    norms = norms[finite]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.median(norms[:, 0] / norms[:, -1]))
    return ratio, np.median(norms, axis=0), layers


def run(out: Path, options: PresetOptions, on_progress: ProgressCallback | None = None) -> PresetResult:
    settings = dict(BUDGETS[options.budget])
    model_options = {"norm": "none", **settings.pop("model_options", {})}
    base = TrainConfig(model="resnet20", model_options=model_options, seed=options.seed, device=options.device,
                       out=str(out / "vanishing.resviz"), overwrite=True, **settings)
    plain_config, residual_config = twin_configs(base)
    plain = train_one(plain_config, plain_config.model, on_progress)
    residual = train_one(residual_config, residual_config.model, on_progress)

    plain_ratio, plain_profile, _ = gradient_ratio(plain.path)
    residual_ratio, residual_profile, _ = gradient_ratio(residual.path)
    plain_acc, residual_acc = plain.final_accuracy, residual.final_accuracy
    claims = [
        Claim("Plain-20's first-layer gradient is orders of magnitude below its last layer's",
              plain_ratio < ORDERS_OF_MAGNITUDE, f"first/last = {plain_ratio:.2g}"),
        Claim("ResNet-20's is not", residual_ratio >= ORDERS_OF_MAGNITUDE, f"first/last = {residual_ratio:.2g}"),
        Claim("ResNet-20 reaches a higher test accuracy than Plain-20", residual_acc > plain_acc,
              f"{residual_acc:.1%} vs {plain_acc:.1%}"),
    ]
    figure, (profile_axes, accuracy_axes) = new_figure(2)
    plot_depth_profile(profile_axes, [("Plain-20", plain_profile, "plain"),
                                      ("ResNet-20", residual_profile, "residual")],
                       title="Gradient norm by depth (no norm layers)")
    curves = []
    for label, result, role in (("Plain-20", plain, "plain"), ("ResNet-20", residual, "residual")):
        curves.append((label, [e.epoch + 1 for e in result.evals], [e.acc for e in result.evals], role))
    plot_curves(accuracy_axes, curves, title="Test accuracy", xlabel="epoch", ylabel="accuracy", percent=True)
    path = save_figure(figure, out / "vanishing.png", "Vanishing gradients: Plain-20 vs ResNet-20 without norm layers")
    lines = [f"Plain-20:  test accuracy {plain_acc:.1%}, gradient first/last layer {plain_ratio:.2g}",
             f"ResNet-20: test accuracy {residual_acc:.1%}, gradient first/last layer {residual_ratio:.2g}"]
    return PresetResult("vanishing", {"plain20": plain.path, "resnet20": residual.path}, claims, path, lines)


PRESET = Preset("vanishing", "Plain-20 vs ResNet-20 without norm layers: the plain net's gradient vanishes",
                __doc__.split("\n\n", 1)[1].strip(), run)
