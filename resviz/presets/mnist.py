"""``mnist``: the seeds' small MNIST ResNet, one epoch, test loss and accuracy printed as the seed prints them.

The model is the seeds' Keras network (a 32-filter convolution, two residual blocks, flatten,
dense), trained for one epoch with its recipe (Adam at 1e-3, batch 64, as the seed compiles
it) on MNIST from the data folder (``--download`` fetches it, checksums verified). The claim
is the seed's: after one epoch the small ResNet classifies at least 90 % of the test digits.
"""

from __future__ import annotations

from pathlib import Path

from ..train.config import TrainConfig
from .base import Claim, Preset, PresetOptions, PresetResult, ProgressCallback, train_one

TARGET_ACCURACY = 0.90
BUDGETS = {
    "full": dict(epochs=1),
    # A 4,000-digit subset: the recipe must learn even from this little.
    "quick": dict(epochs=1, train_samples=4000, test_samples=1000),
}


def run(out: Path, options: PresetOptions, on_progress: ProgressCallback | None = None) -> PresetResult:
    config = TrainConfig(model="mnist_resnet", dataset="mnist", data_dir=options.data_dir, download=options.download,
                         seed=options.seed, device=options.device, out=str(out / "mnist.resviz"), overwrite=True,
                         **BUDGETS[options.budget])
    result = train_one(config, "mnist_resnet", on_progress)
    final = result.evals[-1]
    claims = [Claim(f"the small MNIST ResNet reaches at least {TARGET_ACCURACY:.0%} test accuracy after one epoch",
                    final.acc >= TARGET_ACCURACY, f"{final.acc:.2%}")]
    lines = [f"Test loss: {final.loss:.4f}", f"Test accuracy: {final.acc:.4f}"]
    return PresetResult("mnist", {"mnist_resnet": result.path}, claims, None, lines)


PRESET = Preset("mnist", "The seeds' small MNIST ResNet, one epoch: test loss and accuracy",
                __doc__.split("\n\n", 1)[1].strip(), run)
