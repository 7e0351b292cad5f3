"""The twins without normalisation: vanishing gradients in the plain net, not in the residual one."""

from __future__ import annotations

import numpy as np
import pytest

from resviz.errors import ResvizError
from resviz.runfile import open_run
from resviz.train.config import TrainConfig
from resviz.train.twins import train_twins, twin_configs


def first_over_last(path) -> np.ndarray:
    """Per recorded step: the first layer's gradient norm over the last layer's."""
    with open_run(path) as reader:
        info = reader.info()
        steps = reader.read_steps()
    assert info.layer_ids[0] in ("conv1", "fc_in") and info.layer_ids[-1] in ("fc", "fc_out")
    assert len(steps) >= 4 and np.isfinite(steps.grad_norm).all()
    return steps.grad_norm[:, 0] / steps.grad_norm[:, -1]


@pytest.mark.parametrize("model, options", [
    ("resnet20", {"norm": "none", "width": 4, "input_size": 16}),                     # Plain-20 / ResNet-20
    ("mlp_residual", {"norm": "none", "activation": "tanh", "width": 16, "input_size": 8}),  # deep MLP, tanh
])
def test_plain_twin_without_normalisation_has_vanishing_first_layer_gradients(tmp_path, model, options):
    config = TrainConfig(model=model, model_options=options, dataset="shapes", train_samples=96, test_samples=24,
                         batch_size=24, epochs=1, max_steps=4, seed=3, checkpoint_every=0,
                         out=str(tmp_path / "twins.resviz"))
    plain, residual = train_twins(config)
    assert plain.status == residual.status == "finished"
    assert (plain.path.name, residual.path.name) == ("twins-plain.resviz", "twins-residual.resviz")
    with open_run(plain.path) as reader:
        assert reader.info().twin == str(residual.path) and reader.info().model_spec.name.startswith(("plain", "mlp_p"))
        assert reader.info().model_spec.options["norm"] == "none"

    plain_ratio, residual_ratio = first_over_last(plain.path), first_over_last(residual.path)
    # Plain: the first layer learns orders of magnitude more slowly than the last.
    assert np.median(plain_ratio) < 1e-3, plain_ratio
    # Residual: the identity paths carry the gradient back to the first layer.
    assert np.median(residual_ratio) > 0.05, residual_ratio
    assert np.median(residual_ratio) / np.median(plain_ratio) > 1e3


def test_twins_see_the_same_data_in_the_same_order(tmp_path):
    config = TrainConfig(model="plain20", model_options={"depth": 8, "width": 4, "input_size": 8},
                         train_samples=48, test_samples=12, batch_size=16, max_steps=3, checkpoint_every=0,
                         out=str(tmp_path / "pair.resviz"))
    plain, residual = twin_configs(config)
    assert (plain.model, residual.model) == ("plain20", "resnet20")
    assert plain.seed == residual.seed and plain.data_seed == residual.data_seed
    from resviz.train.trainer import Trainer

    batches = {}
    for which, twin in (("plain", plain), ("residual", residual)):
        trainer = Trainer(twin)
        trainer.prepare()
        batches[which] = [y.tolist() for _, y in trainer.train_loader]
    assert batches["plain"] == batches["residual"]


def test_a_model_without_a_twin_is_refused():
    with pytest.raises(ResvizError, match="simple_cnn has no"):
        twin_configs(TrainConfig(model="simple_cnn"))
