"""``resviz attribute``: headless figures from a run file or a zoo model."""

import json

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from resviz.cli import main
from resviz.data import SHAPE_CLASSES, dataset_stats, load_dataset
from resviz.models import ModelSpec, get_model

# Its module-scoped fixture is costly: one worker runs the module, once.
pytestmark = pytest.mark.xdist_group("attribute_command")

TINY = ["-o", "depth=8", "-o", "width=4", "-o", "input_size=16", "-o", "num_classes=6"]
SPEC_OPTIONS = {"depth": 8, "width": 4, "input_size": 16, "num_classes": 6}


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    """A run of the tiny ResNet on shapes with three checkpoints (weights from three seeds)."""
    from resviz.runfile import RunWriter

    path = tmp_path_factory.mktemp("runs") / "tiny.resviz"
    config = {"dataset": "shapes", "train_samples": 60, "test_samples": 30, "data_seed": 0, "normalize": True,
              "resolved": {"input_shape": [3, 16, 16]}}
    writer = RunWriter(path, model_spec=ModelSpec("resnet20", dict(SPEC_OPTIONS)), config=config, layer_ids=[],
                       block_ids=[], classes=SHAPE_CLASSES)
    for step, seed in ((0, 1), (10, 2), (20, 3)):
        torch.manual_seed(seed)
        writer.add_checkpoint(step, step // 10, get_model("resnet20", **SPEC_OPTIONS).state_dict())
    writer.finish()
    return path


def run_cli(capsys, *argv):
    code = main(["attribute", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_zoo_model_grid_of_methods(tmp_path, capsys):
    out = tmp_path / "grid.png"
    code, stdout, err = run_cli(capsys, "resnet20", *TINY, "--method", "saliency,gradcam", "--images", "2",
                                "--out", out)
    assert code == 0, err
    assert "Saliency:" in stdout and "Grad-CAM (layer3)" in stdout and f"wrote {out}" in stdout
    image = imread(out)
    assert image.shape[1] > image.shape[0] > 100


def test_run_file_grid_as_json(tmp_path, capsys, run_file):
    out = tmp_path / "grid.png"
    code, stdout, err = run_cli(capsys, run_file, "--images", "3", "-O", "n_steps=4", "--json", "--out", out)
    assert code == 0, err
    data = json.loads(stdout)
    assert [r["method"] for r in data["results"]] == ["saliency", "integrated_gradients", "grad_cam"]
    assert data["results"][1]["options"]["n_steps"] == 4 and len(data["results"][1]["delta"]) == 3
    assert data["rows"][0].endswith(": circle") and out.exists()
    assert data["title"] == "Attribution maps: resnet20 step 20"


def test_images_by_index_and_true_label_target(tmp_path, capsys, run_file):
    code, stdout, err = run_cli(capsys, run_file, "-m", "saliency", "--images", "4,7", "--target", "label",
                                "--json", "--out", tmp_path / "g.png")
    assert code == 0, err
    data = json.loads(stdout)
    test_split = load_dataset("shapes", split="test", n=30, size=16)
    assert data["results"][0]["target"] == test_split.labels[[4, 7]].tolist()
    assert [row.split(":")[0] for row in data["rows"]] == ["#4", "#7"]


def test_checkpoints_across_a_run(tmp_path, capsys, run_file):
    code, stdout, err = run_cli(capsys, run_file, "--across", "checkpoints", "-m", "saliency", "--images", "2",
                                "--json", "--out", tmp_path / "c.png")
    assert code == 0, err
    data = json.loads(stdout)
    assert data["kind"] == "checkpoints" and data["columns"] == ["step 0", "step 10", "step 20"]
    targets = {tuple(r["target"]) for r in data["results"]}
    assert len(targets) == 1  # every checkpoint explains the same class


def test_missing_checkpoint_lists_the_available_ones(capsys, run_file):
    code, _, err = run_cli(capsys, run_file, "--checkpoint", "15")
    assert code == 2 and "no checkpoint at step 15 (checkpoints: 0, 10, 20)" in err


def test_twin_of_a_zoo_model(tmp_path, capsys):
    code, stdout, err = run_cli(capsys, "resnet20", *TINY, "--twin", "-m", "grad_cam", "--images", "2", "--json",
                                "--out", tmp_path / "t.png")
    assert code == 0, err
    data = json.loads(stdout)
    assert data["kind"] == "models" and data["columns"][1].startswith("plain20")


def test_a_model_without_a_twin_is_refused_in_one_line(tmp_path, capsys):
    code, _, err = run_cli(capsys, "simple_cnn", "-o", "width=4", "--twin", "-m", "saliency", "--out",
                           tmp_path / "t.png")
    assert code == 2 and not (tmp_path / "t.png").exists()
    assert err.strip() == ("resviz: error: simple_cnn has no plain/residual twin ('resviz models' lists each "
                           "model's twin); give the other model with --with")


def test_sanity_scores(tmp_path, capsys, run_file):
    out = tmp_path / "sanity.png"
    code, stdout, err = run_cli(capsys, run_file, "--sanity", "-m", "saliency", "--images", "2", "--json",
                                "--out", out)
    assert code == 0, err
    data = json.loads(stdout)
    assert data["steps"][0]["randomised_down_to"] == "fc" and data["steps"][-1]["randomised_down_to"] == "conv1"
    assert all(-1 <= step["spearman_abs"] <= 1 for step in data["steps"]) and out.exists()
    code, stdout, _ = run_cli(capsys, run_file, "--sanity", "-m", "saliency", "--images", "1", "--out", out)
    assert code == 0 and "randomised down to" in stdout and "layer3.0" in stdout


def test_localisation_scores_on_shapes(tmp_path, capsys, run_file):
    code, stdout, err = run_cli(capsys, run_file, "--score", "--images", "12", "--json", "--out", tmp_path / "l.png")
    assert code == 0, err
    data = json.loads(stdout)
    assert 0 <= data["pointing_game"] <= 1 and 0 <= data["energy_in_mask"] <= 1
    assert data["inputs"] == 12 and data["explained_true_class"] is True
    assert 0 < data["uniform_map_energy"] < 1


def test_image_files_are_converted_to_what_the_model_expects(tmp_path, capsys):
    from PIL import Image

    path = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(40, dtype=np.uint8) * 6, (40, 1)), mode="L").save(path)
    code, stdout, err = run_cli(capsys, "resnet20", *TINY, "-m", "saliency", "--images", path, "--out",
                                tmp_path / "f.png")
    assert code == 0, err
    assert "converted grey to RGB" in stdout and "resized 40x40 to 16x16" in stdout


@pytest.mark.parametrize("argv, message", [
    (["--layer", "layer3.9", "-m", "grad_cam"], "the model has no layer 'layer3.9'; nearest: layer3.0"),
    (["--layer", "fc", "-m", "grad_cam"], "no spatial output: it gives (N, 6)"),
    (["--layer", "avgpool", "-m", "grad_cam"], "gives (N, 16, 1, 1), a single position"),
    (["-m", "ig", "-O", "window=3"], "method option 'window' is taken by none of integrated_gradients"),
    (["-m", "integrated_gradient_z"], "unknown attribution method 'integrated_gradient_z'"),
    (["--images", "0,30", "-m", "saliency"], "image index 30 is out of range: the test split of shapes has 30"),
    (["--target", "hexagon", "-m", "saliency"], "target 'hexagon' is not a class index"),
])
def test_bad_input_is_one_line(tmp_path, capsys, run_file, argv, message):
    images = [] if "--images" in argv else ["--images", "1"]
    code, _, err = run_cli(capsys, run_file, *argv, *images, "--out", tmp_path / "x.png")
    assert code == 2, err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_run_normalisation_is_the_trainers(run_file):
    from resviz.attribution.sources import source_from_run

    source = source_from_run(run_file)
    train = load_dataset("shapes", split="train", n=60, size=16, channels=3)
    mean, std = dataset_stats(train)
    np.testing.assert_allclose(source.mean, mean)
    np.testing.assert_allclose(source.std, std)
    assert source.classes == list(SHAPE_CLASSES) and source.step == 20


USER_MODEL = '''
import torch
from torch import nn


class Block(nn.Module):
    """torchvision's BasicBlock pattern: one in-place ReLU called twice."""

    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.conv1(x))
        out = self.conv2(out)
        out += x
        return self.relu(out)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.block = Block(4)
        self.fc = nn.Linear(4, 6)
        self.input_shape = (3, 16, 16)

    def forward(self, x):
        return self.fc(self.block(self.stem(x)).mean((2, 3)))


def build():
    torch.manual_seed(0)
    return Net()
'''


def test_users_model_file_with_a_reused_relu(tmp_path, capsys):
    path = tmp_path / "user_model.py"
    path.write_text(USER_MODEL)
    reference = f"{path}:build"
    code, _, err = run_cli(capsys, reference, "-m", "deeplift", "--images", "1", "--out", tmp_path / "u.png")
    assert code == 2 and "--trust" in err
    code, stdout, err = run_cli(capsys, reference, "--trust", "-m", "deeplift,guided_backprop", "--images", "2",
                                "--out", tmp_path / "u.png")
    assert code == 0, err
    assert "each call of a reused module got its own copy: block.relu (2 calls)" in stdout
