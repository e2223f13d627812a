"""The benchmark runs on the tiny preset and counts UNet calls correctly (timings are reported, never asserted)."""

import json

from sound2img import bench


def test_bench_counts_unet_calls_and_writes_json(tmp_path, capsys):
    path = tmp_path / "b.json"
    assert bench.main(["--preset", "tiny", "--steps", "3", "--dso-steps", "2", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    calls_per_render = 4  # PLMS with 3 steps makes 4 UNet calls
    unet = report["unet"]
    assert unet["forward_calls"] == calls_per_render * (2 + 1)  # two DSO renderings and the final one
    assert unet["backward_calls"] == calls_per_render * 2
    assert unet["recomputed_forward_calls"] == calls_per_render * 2  # checkpointing recomputes each call
    assert len(report["dso_iteration_seconds"]) == 2 and report["final_render_seconds"] > 0
    assert report["decode"]["calls"] == 3
    assert report["overhead_ratio"] >= 1.0
    assert report["overhead_ratio"] == report["pipeline_wall_seconds"] / (unet["forward_seconds"] + unet["backward_seconds"])
    assert "peak_rss_mb" in report
    assert "**overhead ratio**" in capsys.readouterr().out


def test_truncated_backprop_counts_only_the_last_k_calls(tmp_path):
    path = tmp_path / "b.json"
    bench.main(["--preset", "tiny", "--steps", "3", "--dso-steps", "1", "--grad-steps", "2", "--json", str(path)])
    unet = json.loads(path.read_text())["unet"]
    assert unet["forward_calls"] == 8 and unet["backward_calls"] == 2
