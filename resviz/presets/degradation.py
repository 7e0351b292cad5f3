"""``degradation``: He et al. 2016, Fig. 1 — deeper plain nets train worse; deeper residual nets do not.

Plain-20 and Plain-56, ResNet-20 and ResNet-56, all with BatchNorm, trained with the same
recipe, seed and data order. BatchNorm keeps the gradient from vanishing, yet the 56-layer
plain net reaches a far higher *training* error than the 20-layer one: the problem is
optimisation, not overfitting. With shortcuts the deeper net trains as well as the shallower
one: at the full budget (about 1,000 steps) both residual nets end near zero training error.
The figure shows the four training-error curves on one axis, as in the paper. After the
quick budget's 64 steps ResNet-56 is still catching up with ResNet-20 (it starts slower), so
``--quick`` checks only that Plain-56 trains worse than Plain-20 and ResNet-56 better than
Plain-56; the full budget also checks what depth costs each family.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runfile import open_run
from ..train.config import TrainConfig
from .base import Claim, Preset, PresetOptions, PresetResult, ProgressCallback, final_mean, smoothed, train_one
from .figures import new_figure, plot_curves, save_figure

MODELS = (("plain20", "Plain-20", "plain"), ("plain56", "Plain-56", "plain-deep"),
          ("resnet20", "ResNet-20", "residual"), ("resnet56", "ResNet-56", "residual-deep"))
BUDGETS = {
    "full": dict(epochs=16, batch_size=32, train_samples=2000, test_samples=300,
                 model_options={"input_size": 16, "width": 8}),
    "quick": dict(epochs=2, batch_size=32, train_samples=1000, test_samples=200,
                  model_options={"input_size": 16, "width": 8}),
}
# "Does not train worse": ResNet-56 ends within this much training error of ResNet-20. Both end
# near zero at the full budget (0.5 % and 0.1 %, seed 0, where Plain-56 ends 67 points above Plain-20):
# a point is the noise of an almost-fitted training set, not a cost of depth.
RESIDUAL_TOLERANCE = 0.01


def training_error(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps, training error per step) of a run: 1 - the batch accuracy recorded at each step."""
    with open_run(path) as reader:
        steps = reader.read_steps()
    return steps.step, 1.0 - steps.acc.astype(np.float64)


def run(out: Path, options: PresetOptions, on_progress: ProgressCallback | None = None) -> PresetResult:
    settings = dict(BUDGETS[options.budget])
    model_options = settings.pop("model_options", {})
    runs, errors = {}, {}
    for model, _, _ in MODELS:
        config = TrainConfig(model=model, model_options=dict(model_options), seed=options.seed,
                             device=options.device, out=str(out / f"degradation-{model}.resviz"), overwrite=True,
                             **settings)
        result = train_one(config, model, on_progress)
        runs[model] = result.path
        errors[model] = training_error(result.path)
    final = {model: final_mean(error) for model, (_, error) in errors.items()}
    plain_gap = final["plain56"] - final["plain20"]
    residual_gap = final["resnet56"] - final["resnet20"]
    claims = [
        Claim("the deeper plain net trains worse: Plain-56's training error is above Plain-20's", plain_gap > 0,
              f"{final['plain56']:.1%} vs {final['plain20']:.1%}"),
        Claim("with shortcuts the deep net trains: ResNet-56's training error is below Plain-56's",
              final["resnet56"] < final["plain56"], f"{final['resnet56']:.1%} vs {final['plain56']:.1%}"),
    ]
    if options.budget == "full":  # after 64 quick steps ResNet-56 is still catching up (see the docstring)
        claims += [
            Claim("depth costs the residual nets less than the plain nets",
                  residual_gap < plain_gap, f"{residual_gap:+.1%} vs {plain_gap:+.1%}"),
            Claim(f"the deeper residual net does not train worse: ResNet-56 ends within "
                  f"{RESIDUAL_TOLERANCE:.0%} of ResNet-20", residual_gap <= RESIDUAL_TOLERANCE,
                  f"{final['resnet56']:.1%} vs {final['resnet20']:.1%}"),
        ]
    figure, (axes,) = new_figure(1, width=7.0, height=4.6)
    window = max(5, len(next(iter(errors.values()))[0]) // 25)
    curves = [(label, errors[model][0], smoothed(errors[model][1], window), role) for model, label, role in MODELS]
    plot_curves(axes, curves, title="Training error (moving average over batches)", xlabel="step",
                ylabel="training error", percent=True, styles=["--", "--", "-", "-"])
    path = save_figure(figure, out / "degradation.png", "Degradation: deeper plain nets train worse (He et al. 2016)")
    lines = [f"{label:<9} final training error {final[model]:.1%}" for model, label, _ in MODELS]
    return PresetResult("degradation", runs, claims, path, lines)


PRESET = Preset("degradation", "Plain-20/56 vs ResNet-20/56 with BatchNorm: deeper plain nets train worse",
                __doc__.split("\n\n", 1)[1].strip(), run)
