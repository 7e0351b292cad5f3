import pytest
import torch
from torch import nn

from resviz.errors import ResvizError, TrustError
from resviz.models import (
    get_model,
    load_user_model,
    load_weights,
    open_model,
    read_state_dict,
    rebuild_model,
    save_weights,
)

MODEL_FILE = '''
import torch
from torch import nn

class SimpleResBlock(nn.Module):
    def __init__(self, channels=3):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x)) + x

def build(channels=3):
    model = SimpleResBlock(channels)
    model.input_shape = (channels, 5, 5)
    return model

def not_a_model():
    return 42

def raises():
    raise ValueError("bad config")
'''


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "mymodel.py"
    path.write_text(MODEL_FILE)
    return path


def test_user_model_needs_trust(model_file):
    with pytest.raises(TrustError, match="--trust.*sha256"):
        load_user_model(f"{model_file}:build", trust=False)


def test_user_model_loads_with_trust_and_options(model_file):
    model = load_user_model(f"{model_file}:build", trust=True, options={"channels": 4})
    assert isinstance(model, nn.Module) and model.conv.in_channels == 4
    assert model.resviz_spec.options == {"channels": 4} and len(model.resviz_spec.sha256) == 64
    rebuilt = rebuild_model(model.resviz_spec, trust=True)
    assert rebuilt.conv.in_channels == 4


def test_user_model_class_is_a_factory_too(model_file):
    assert isinstance(load_user_model(f"{model_file}:SimpleResBlock", trust=True), nn.Module)
    # With no factory named, the single nn.Module class is used.
    assert isinstance(load_user_model(str(model_file), trust=True), nn.Module)


@pytest.mark.parametrize("factory,message", [
    ("not_a_model", "returned int, not a torch.nn.Module"),
    ("biuld", "has no factory 'biuld' \\(did you mean build"),
    ("raises", "raised ValueError: bad config"),
])
def test_user_model_errors_name_the_file_and_problem(model_file, factory, message):
    with pytest.raises(ResvizError, match=message):
        load_user_model(f"{model_file}:{factory}", trust=True)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ResvizError, match="model file not found"):
        load_user_model(str(tmp_path / "nope.py:build"), trust=True)
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\ndef broken(:\n")
    with pytest.raises(ResvizError, match="broken.py: failed to import: SyntaxError"):
        load_user_model(f"{broken}:build", trust=True)


def test_changed_user_file_is_detected(model_file):
    spec = load_user_model(f"{model_file}:build", trust=True).resviz_spec
    model_file.write_text(MODEL_FILE + "\n# edited\n")
    with pytest.raises(ResvizError, match="file changed"):
        rebuild_model(spec, trust=True)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_round_trip(tmp_path, suffix):
    source = get_model("resnet20", width=8)
    path = tmp_path / f"w{suffix}"
    if suffix == ".pt":
        torch.save({"state_dict": source.state_dict()}, path)
    else:
        save_weights(source, path)
    target = get_model("resnet20", width=8)
    report = load_weights(target, path)
    assert report.ok and len(report.loaded) == len(source.state_dict())
    for key, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[key])


def test_weights_that_do_not_fit_are_reported(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(get_model("resnet20", width=8), path)
    target = get_model("resnet20", width=8, num_classes=5)
    before = target.fc.weight.clone()
    with pytest.raises(ResvizError, match=r"does not fit the model: .*2 of the wrong shape \(.*fc.weight \[10, 32\] vs model \[5, 32\]"):
        load_weights(target, path)
    assert torch.equal(target.fc.weight, before)  # strict: nothing loaded
    report = load_weights(target, path, strict=False)
    assert sorted(k for k, _, _ in report.mismatched) == ["fc.bias", "fc.weight"]
    assert not report.missing and not report.unexpected


def test_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "w.pt"
    state = get_model("resnet20", width=8).state_dict()
    state.pop("conv1.weight")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    report = load_weights(get_model("resnet20", width=8), path, strict=False)
    assert report.missing == ["conv1.weight"] and report.unexpected == ["extra.weight"]


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "full.pt"
    torch.save(get_model("mlp_plain", depth=1), path)  # a whole pickled module, not a state dict
    with pytest.raises(ResvizError, match="weights-only"):
        read_state_dict(path)


def test_open_model_with_input_shape_and_weights(tmp_path, model_file):
    loaded = open_model(f"{model_file}:build", trust=True)
    assert loaded.input_shape == (3, 5, 5)
    assert loaded.example_input(2).shape == (2, 3, 5, 5)
    with pytest.raises(ResvizError, match="not found"):
        open_model("resnet20", weights=tmp_path / "missing.safetensors")
