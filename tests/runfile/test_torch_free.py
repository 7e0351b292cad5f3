"""Reading a run file needs neither torch nor a model: every table of a run the trainer wrote
reads in a fresh interpreter that never imports torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import resviz
from resviz.runfile import open_run
from resviz.train.config import TrainConfig
from resviz.train.trainer import Trainer

READ_EVERYTHING = textwrap.dedent("""
    import json, sys
    import resviz.runfile as runfile

    path = sys.argv[1]
    with runfile.open_run(path) as reader:
        info = reader.info()
        steps = reader.read_steps()
        seen = {
            "status": info.status, "model": info.model_spec.label(), "layers": info.layer_ids,
            "kinds": info.structure.layer_kinds, "block_layers": info.structure.block_layers,
            "steps": steps.step.tolist(), "grad_norm_columns": steps.grad_norm.shape[1],
            "polled": len(reader.poll()), "last_step": reader.last_step(),
            "evals": [(e.split, e.step, e.confusion.sum().item()) for e in reader.evals()],
            "events": [e.kind for e in reader.events()],
            "checkpoints": [c.step for c in reader.checkpoints()], "best": reader.best_accuracy(),
        }
    summaries = runfile.list_runs(sys.argv[2])
    seen["summary"] = [(s.name, s.status, s.steps) for s in summaries] + [runfile.summarize_run(path).status]
    seen["torch"] = sorted(m for m in sys.modules if m.split(".")[0] == "torch")
    print(json.dumps(seen))
""")


def test_every_table_of_a_trained_run_reads_without_torch(tmp_path):
    out = tmp_path / "tiny.resviz"
    config = TrainConfig(model="resnet20", model_options={"depth": 8, "width": 4, "input_size": 8},
                         train_samples=32, test_samples=16, batch_size=16, epochs=2, out=str(out),
                         checkpoint_every=1)
    Trainer(config).run()
    with open_run(out) as reader:  # what the trainer wrote, read here with torch loaded
        expected_steps = reader.read_steps().step.tolist()
        expected_checkpoints = [c.step for c in reader.checkpoints()]

    root = str(Path(resviz.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", READ_EVERYTHING, str(out), str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["torch"] == []
    assert seen["status"] == "finished" and seen["model"].startswith("resnet20")
    assert seen["steps"] == expected_steps and len(expected_steps) == 4 and seen["polled"] == 4
    assert seen["grad_norm_columns"] == len(seen["layers"]) and seen["last_step"] == 3
    assert len(seen["evals"]) >= 2 and all(total == 16 for split, _, total in seen["evals"] if split != "train")
    assert "info" in seen["events"]
    assert seen["checkpoints"] == expected_checkpoints and len(expected_checkpoints) >= 2
    assert seen["best"] is not None and seen["summary"] == [["tiny", "finished", 4], "finished"]
    # The trainer recorded what the window needs without rebuilding the model: batch-norm
    # layers apart from the convolutions, and which layers make up each block.
    kinds = dict(zip(seen["layers"], seen["kinds"]))
    assert kinds["conv1"] == "weight" and kinds["bn1"] == "norm" and kinds["fc"] == "weight"
    assert seen["block_layers"][0] == ["layer1.0.conv1", "layer1.0.bn1", "layer1.0.conv2", "layer1.0.bn2"]
