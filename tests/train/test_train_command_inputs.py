"""``resviz train``: the options its own hints name exist, and ``--out`` may name a folder."""

from __future__ import annotations

import re
import shlex

import numpy as np
from PIL import Image

from resviz.cli import main
from resviz.runfile import open_run
from resviz.train.config import TrainConfig

TINY = ["-o", "depth=8", "-o", "width=4", "--batch-size", "4", "--steps", "1", "--quiet"]


def mixed_folder(root):
    """Two classes of images of two different sizes."""
    rng = np.random.default_rng(0)
    for label, sizes in (("cats", (10, 12, 10)), ("dogs", (12, 10, 12))):
        (root / label).mkdir(parents=True)
        for i, size in enumerate(sizes):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


def test_the_image_size_the_mixed_size_hint_suggests_is_accepted(tmp_path, capsys):
    data = mixed_folder(tmp_path / "pets")
    out = tmp_path / "pets.resviz"
    assert main(["train", "resnet20", *TINY, "--dataset", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    suggested = re.search(r"\(e\.g\. (--image-size \d+)\)", err)
    assert suggested, err
    assert main(["train", "resnet20", *TINY, "--dataset", str(data), *shlex.split(suggested.group(1)),
                 "--out", str(out)]) == 0
    with open_run(out) as reader:
        info = reader.info()
    size = int(suggested.group(1).split()[1])
    assert info.config["image_size"] == size and info.config["resolved"]["input_shape"] == [3, size, size]


def test_an_image_size_out_of_range_is_one_line(tmp_path, capsys):
    assert main(["train", "resnet20", *TINY, "--image-size", "0", "--out", str(tmp_path / "x.resviz")]) == 2
    assert capsys.readouterr().err == "resviz: error: image size 0 must be a whole number from 1 to 1024\n"


def test_out_naming_a_folder_writes_the_run_inside_it(tmp_path, capsys):
    folder = tmp_path / "experiments"
    folder.mkdir()
    assert main(["train", "resnet20", *TINY, "--samples", "8", "--test-samples", "4", "--out", f"{folder}"]) == 0
    runs = sorted(folder.glob("resnet20-*.resviz"))
    assert len(runs) == 1 and not (tmp_path / "experiments.resviz").exists()
    assert f"{runs[0]}: finished" in capsys.readouterr().out
    # A folder that does not exist yet, named with a trailing slash, is made.
    assert TrainConfig(out=f"{tmp_path / 'new'}/").run_path().parent == tmp_path / "new"
