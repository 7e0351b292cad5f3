"""``resviz bench attribution`` runs and reports what it promises (no timing is asserted here)."""

from resviz.benchmarks import attribution as bench
from resviz.cli import main


def test_measure_reports_overhead_ratios_and_interactive_times():
    result = bench.measure("resnet20", size=16, batch=2, steps=4, repeats=2, options={"depth": 8, "width": 4})
    assert set(result["overhead"]) == {"saliency", "grad_cam", "integrated_gradients"}
    for row in result["overhead"].values():
        assert row["ratio"] > 0 and row["best_ratio"] > 0 and row["repeats"] >= 2
    assert result["grad_cam_one_image_s"] > 0 and result["ig_batch_s"] > 0 and result["input"] == [3, 16, 16]


def test_bench_command_prints_the_table(capsys):
    code = main(["bench", "attribution", "--size", "16", "--batch", "2", "--steps", "3", "--repeats", "2",
                 "-o", "depth=8", "-o", "width=4"])
    out = capsys.readouterr().out
    assert code == 0 and "grad_cam" in out and "target <= 1.05" in out and "Integrated Gradients, 3 steps" in out
