"""Keras 3 models on the PyTorch backend as user model files: the seeds' own Keras code."""

import importlib.util
import os

import pytest
import torch

import resviz
from resviz.cli import main
from resviz.errors import ResvizError
from resviz.graph import find_skips, skip_counts, trace_graph
from resviz.models import open_model
from resviz.runfile import open_run

# Its module-scoped fixture is costly: one worker runs the module, once.
pytestmark = pytest.mark.xdist_group("keras_model")

# The seeds' Keras code as they teach it (tensorflow.keras imports made Keras 3 imports), with
# the small MNIST ResNet's builder as a factory; the widths are options so the tests stay quick.
SEEDS_KERAS = '''
import keras
from keras.layers import Input, Conv2D, Add, Activation, Flatten, Dense
from keras.models import Model


def residual_block(x, filters):
    shortcut = x
    x = Conv2D(filters, (3,3), padding='same', activation='relu')(x)
    x = Conv2D(filters, (3,3), padding='same')(x)
    x = Add()([x, shortcut])
    x = Activation('relu')(x)
    return x


def residual_block_with_projection(x, filters):
    shortcut = Conv2D(filters, (1,1), padding='same')(x)
    x = Conv2D(filters, (3,3), padding='same', activation='relu')(x)
    x = Conv2D(filters, (3,3), padding='same')(x)
    x = Add()([x, shortcut])
    x = Activation('relu')(x)
    return x


def mnist_resnet(filters=32):
    inputs = Input(shape=(28,28,1))
    x = Conv2D(filters, (3,3), padding='same', activation='relu')(inputs)
    x = residual_block(x, filters)
    x = residual_block(x, filters)
    x = Flatten()(x)
    outputs = Dense(10, activation='softmax')(x)
    return Model(inputs, outputs)


def projection_net(filters=8):
    inputs = Input(shape=(16,16,3))
    x = Conv2D(filters, (3,3), padding='same', activation='relu')(inputs)
    x = residual_block_with_projection(x, 2 * filters)
    x = residual_block(x, 2 * filters)
    x = Flatten()(x)
    return Model(inputs, Dense(4)(x))
'''


def import_keras():
    """Keras on the PyTorch backend (chosen before keras is first imported), or a skip where it is not installed."""
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed")
    if os.environ.setdefault("KERAS_BACKEND", "torch") != "torch":
        pytest.fail(f"these tests need KERAS_BACKEND=torch, not {os.environ['KERAS_BACKEND']!r}")
    import keras

    assert keras.backend.backend() == "torch"


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    import_keras()
    path = tmp_path_factory.mktemp("keras") / "seeds_keras.py"
    path.write_text(SEEDS_KERAS)
    return path


def test_the_seeds_mnist_resnet_draws_with_its_skips(keras_file, capsys):
    loaded = open_model(f"{keras_file}:mnist_resnet", {"filters": 4}, trust=True)
    assert loaded.input_shape == (1, 28, 28)  # channels first, as resviz's data comes
    skips = find_skips(trace_graph(loaded.model))
    assert skip_counts(skips) == {"identity": 2}
    # Each merge is in one of the seed's Add layers (Keras numbers its layer names per process).
    assert [type(loaded.model.get_submodule(skip.merge.split(".")[0])).__name__ for skip in skips] == ["Add", "Add"]
    assert main(["graph", f"{keras_file}:mnist_resnet", "--trust", "-o", "filters=4"]) == 0
    assert "skips: 2 skip connections (2 identity)" in capsys.readouterr().out


def test_a_projection_block_is_a_projection_skip(keras_file):
    model = open_model(f"{keras_file}:projection_net", trust=True).model
    skips = find_skips(trace_graph(model))
    assert [skip.kind for skip in skips] == ["projection", "identity"]
    layers = {model.get_submodule(node.split(".")[0]) for node in skips[0].short_path}
    assert [layer.kernel_size for layer in layers if type(layer).__name__ == "Conv2D"] == [(1, 1)]


def test_the_seeds_mnist_resnet_trains_with_its_gradients_recorded(keras_file, tmp_path):
    model = open_model(f"{keras_file}:mnist_resnet", {"filters": 4}, trust=True).model
    keras_layers = [layer.name for layer in model.keras_model.layers if layer.weights]
    assert len(keras_layers) == 6  # five convolutions and the dense layer
    generator = torch.Generator().manual_seed(0)
    images, labels = torch.rand(8, 1, 28, 28, generator=generator), torch.arange(8) % 10
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    run = tmp_path / "keras.resviz"
    with resviz.watch(model, run) as rec:
        for _ in range(2):
            optimizer.zero_grad()
            loss = torch.nn.functional.nll_loss(torch.log(model(images) + 1e-7), labels)
            loss.backward()
            rec.step(loss=loss)
            optimizer.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # Keras's own variables train
    with open_run(run) as reader:
        assert [layer.split(".")[0] for layer in reader.layer_ids] == keras_layers
        steps = reader.read_steps()
        assert len(steps.step) == 2 and (steps.grad_norm > 0).all()


def test_a_keras_model_with_an_open_size_is_one_clear_line(tmp_path):
    path = tmp_path / "open_size.py"
    path.write_text("import keras\n\ndef build():\n    inputs = keras.Input(shape=(None, None, 3))\n"
                    "    return keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))\n")
    import_keras()
    with pytest.raises(ResvizError, match=r"open_size.py:build: .*fixed sizes"):
        open_model(f"{path}:build", trust=True)
