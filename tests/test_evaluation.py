"""`python -m sound2img eval` end to end with the tiny preset, on a tiny copy of each dataset's real format."""

import json
import shutil

import pytest

from conftest import EXAMPLES, write_clip, write_esc50
from sound2img import GenerationParams
from sound2img.cli import main
from sound2img import Sound2ImgError
from sound2img.datasets import MULTI_ESC50_PAIRS, Clip, Dataset
from sound2img.dso import DSOConfig
from sound2img.evaluation import ABLATIONS, PAPER_RESULTS, evaluate, image_name, render, select_clips


def audiocaps(root):
    (root / "test.csv").write_text(
        "audiocap_id,youtube_id,start_time,caption\n"
        "101,-yt_a,30,A dog barks\n102,-yt_a,30,A dog is barking loudly\n103,yt_b,0,Thunder rumbles\n104,yt_c,10,Wind blows\n"
    )
    shutil.copy(EXAMPLES / "dog_barking.wav", root / "-yt_a.wav")
    (root / "audio").mkdir()
    shutil.copy(EXAMPLES / "thunder.wav", root / "audio" / "103.wav")  # found by audiocap_id
    return 2, 1  # clips with audio, clips missing


def clotho(root):
    header = "file_name," + ",".join(f"caption_{i}" for i in range(1, 6))
    (root / "clotho_captions_evaluation.csv").write_text(
        f"{header}\nbirds in the park.wav,birds sing,birds chirp,a bird,many birds,tweets\n"
        "gone.wav,a,b,c,d,e\n"
        "rain.wav,rain falls,rain,water drops,a storm,rain on a roof\n"
    )
    (root / "evaluation").mkdir()
    shutil.copy(EXAMPLES / "birds_chirping.wav", root / "evaluation" / "birds in the park.wav")
    shutil.copy(EXAMPLES / "rain_in_garden.wav", root / "evaluation" / "rain.wav")
    return 2, 1


def urbansound8k(root):
    rows = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    for i, name in enumerate(["dog_bark", "siren", "gun_shot", "children_playing", "car_horn"]):
        rows.append(f"{i}-0-0-0.wav,{i},0,1,1,{i % 2 + 1},{i},{name}")
        if name != "car_horn":
            write_clip(root / "audio" / f"fold{i % 2 + 1}" / f"{i}-0-0-0.wav", seed=i)
    (root / "metadata").mkdir()
    (root / "metadata" / "UrbanSound8K.csv").write_text("\n".join(rows) + "\n")
    return 3, 1


def multi_esc50(root):
    write_esc50(root, sorted({c for pair in MULTI_ESC50_PAIRS for c in pair}))
    return 700, 0


DATASETS = {"audiocaps": audiocaps, "clotho": clotho, "urbansound8k": urbansound8k, "multi-esc50": multi_esc50}
FAST = ["--preset", "tiny", "--steps", "2", "--dso-steps", "1", "--quiet"]


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_eval_writes_images_results_and_a_table_like_the_papers(tmp_path, name, capsys):
    root, out = tmp_path / "data", tmp_path / "out"
    root.mkdir()
    found, missing = DATASETS[name](root)
    limit = ["--limit", "3"] if name == "multi-esc50" else []
    assert main(["eval", "--dataset", name, "--root", str(root), "--out", str(out), "--config", "full", "wo-opt", *limit, *FAST]) == 0
    clips = 3 if limit else found

    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [row["config"] for row in rows] == ["full"] * clips + ["wo-opt"] * clips
    for row in rows:
        assert "error" not in row and (out / row["image"]).is_file() and row["caption"]
        assert row["image"].startswith(row["config"] + "/")

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == name and metrics["clips"] == clips and len(metrics["missing"]) == missing
    full = metrics["configs"]["full"]
    assert full["images"] == clips and full["failed"] == 0 and full["inception_score"] >= 1.0 - 1e-6
    assert full["paper"] == PAPER_RESULTS[name]["full"]
    assert metrics["models"]["pipeline"]["preset"] == "tiny" and metrics["models"]["scorers"]["detector_threshold"] == 0.5

    table = (out / "table.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| Model"))
    expected = {
        "audiocaps": ["CLIPscore", "IS"],
        "clotho": ["CLIPscore", "IS"],
        "urbansound8k": ["IS", "Object"],
        "multi-esc50": ["IS", "Object"],
    }[name]
    assert header == "| Model | Images | " + " | ".join(f"{m} {t}" for m in expected for t in ("(ours)", "(paper)")) + " |"
    body = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| Model")]
    assert [line.split(" | ")[0] for line in body] == ["| Ours", "| w/o opt"]
    ours = body[0].split(" | ")
    if "CLIPscore" in expected:
        assert all(0.0 <= row["clip_score"] <= 2.5 for row in rows)
        assert ours[2] == f"{full['clip_score']:.4f}" and ours[3] == f"{PAPER_RESULTS[name]['full']['clip_score']:.4f}"
    if "Object" in expected:
        labelled = [row for row in rows if "object_hit" in row]
        assert labelled and all(set(row["object_found"]) <= {c for c in row["label"].split("+")} for row in labelled)
        assert full["object_score"] == sum(r["object_hit"] for r in labelled[: len(labelled) // 2]) / (len(labelled) // 2)
    assert "Ours" in capsys.readouterr().out


def test_eval_resumes_and_reports_a_bad_clip_without_stopping(tmp_path, capsys):
    root, out = tmp_path / "data", tmp_path / "out"
    root.mkdir()
    audiocaps(root)
    (root / "yt_c.wav").write_text("not a recording")  # listed in test.csv, not audio
    args = ["eval", "--dataset", "audiocaps", "--root", str(root), "--out", str(out), *FAST]
    assert main(args) == 1
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [("error" in row) for row in rows] == [False, False, True]
    assert rows[2]["clip"] == "yt_c" and rows[2]["error"]
    assert "1 failed" in (out / "table.md").read_text()
    image = out / "full" / "-yt_a.png"
    stamp = image.stat().st_mtime_ns
    assert main(args) == 1
    assert image.stat().st_mtime_ns == stamp  # reused, not rendered again
    assert [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()][:2] == rows[:2]
    changed = [arg if arg != "2" else "3" for arg in args]  # --steps 3: the images on disk no longer fit
    assert main(changed) == 1
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert "other settings (steps)" in rows[0]["error"] and image.stat().st_mtime_ns == stamp


def test_eval_refuses_bad_options_before_loading_anything(tmp_path, capsys):
    root = tmp_path / "data"
    root.mkdir()
    audiocaps(root)
    for flag, message in (
        (["--no-audio-attention"], "--config"),
        (["--dso-steps", "0"], "--config"),
        (["--limit", "0"], "at least 1"),
        (["--detector-threshold", "50"], "between 0 and 1"),
    ):
        assert main(["eval", "--dataset", "audiocaps", "--root", str(root), "--out", str(tmp_path / "o"), "--preset", "tiny", *flag]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before anything ran


def test_ablations_switch_the_parts_of_table_3():
    base = GenerationParams(seed=3)
    dso = DSOConfig(steps=0, cutouts=2)
    expected = {  # audio attention, sentence attention, DSO steps
        "full": (True, True, 10),
        "wo-all": (False, False, 0),
        "wo-attns": (False, False, 10),
        "wo-s-attn": (True, False, 10),
        "wo-a-attn": (False, True, 10),
        "wo-opt": (True, True, 0),
    }
    for name, (audio, sentence, steps) in expected.items():
        params = ABLATIONS[name].params(base, dso)
        assert (params.weighting.audio_attention, params.weighting.sentence_attention, params.dso.steps) == (audio, sentence, steps)
        assert params.seed == 3 and params.dso.cutouts == 2
    assert ABLATIONS["full"].params(base, DSOConfig(steps=3)).dso.steps == 3
    assert set(PAPER_RESULTS["audiocaps"]) == set(PAPER_RESULTS["multi-esc50"]) == set(ABLATIONS)


def test_limit_spreads_over_the_dataset_and_names_are_safe():
    clips = [Clip(id=f"{label}-{i}", path=None, label=label) for label in "abcdefg" for i in range(100)]
    dataset = Dataset("multi-esc50", clips, [])
    assert [c.label for c in select_clips(dataset, 7)] == list("abcdefg")
    assert select_clips(dataset, 1000) == clips
    with pytest.raises(Sound2ImgError, match="No clotho clip has its audio file .2 missing"):
        select_clips(Dataset("clotho", [], ["a.wav", "b.wav"]))
    assert image_name(Clip(id="birds in the park.wav", path=None)) == "birds in the park"
    assert image_name(Clip(id="-yt_a", path=None)) == "-yt_a"
    assert image_name(Clip(id="a/b.flac", path=None)) == "a_b"


class CountingPipe:
    """The tiny pipeline, counting renders per audio file."""

    def __init__(self, pipe):
        self.pipe, self.calls = pipe, []

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def __call__(self, audio, params, **kwargs):
        self.calls.append(audio.name)
        return self.pipe(audio, params, **kwargs)


def test_two_ranks_render_disjoint_shards_and_scoring_renders_nothing_more(tmp_path, tiny_pipe):
    from sound2img import tiny
    from sound2img.datasets import read

    root, out = tmp_path / "data", tmp_path / "out"
    root.mkdir()
    clotho(root)
    (root / "evaluation" / "gone.wav").write_text("not a recording")  # listed, present, unreadable
    dataset = read("clotho", root)
    configs = [ABLATIONS["wo-all"], ABLATIONS["wo-opt"]]
    params = GenerationParams(steps=2)
    shards = [CountingPipe(tiny_pipe), CountingPipe(tiny_pipe)]
    errors = [render(shard, dataset.clips, configs, params, out, rank=rank, world=2, show_progress=False) for rank, shard in enumerate(shards)]
    names = ["birds in the park.wav", "gone.wav", "rain.wav"]  # in CSV order; rank 0 takes 0 and 2
    assert sorted(shards[0].calls) == sorted(["birds in the park.wav", "rain.wav"] * 2) and shards[1].calls == ["gone.wav"] * 2
    assert errors[0] == {} and set(errors[1]) == {("wo-all", "gone.wav"), ("wo-opt", "gone.wav")}
    assert sorted(p.name for p in (out / "wo-opt").glob("*.png")) == ["birds in the park.png", "rain.png"]

    scorer = CountingPipe(tiny_pipe)
    report = evaluate(scorer, tiny.eval_models(), dataset, configs, params, out, show_progress=False)
    assert scorer.calls == ["gone.wav"] * 2  # only the failed clip is tried again
    assert [row["clip"] for row in report.results] == names * 2
    assert [("error" in row) for row in report.results] == [False, True, False] * 2
    assert [s.images for s in report.scores] == [2, 2] and [s.failed for s in report.scores] == [1, 1]


def test_render_only_renders_and_scoring_runs_after_it(tmp_path, monkeypatch, capsys):
    root, out = tmp_path / "data", tmp_path / "out"
    root.mkdir()
    clotho(root)
    args = ["eval", "--dataset", "clotho", "--root", str(root), "--out", str(out), "--config", "wo-opt", *FAST]
    assert main([*args, "--render-only"]) == 0
    assert "its share is rendered, 0 failed" in capsys.readouterr().out
    images = sorted((out / "wo-opt").glob("*.png"))
    assert len(images) == 2 and not (out / "table.md").exists()
    stamps = [p.stat().st_mtime_ns for p in images]
    assert main(args) == 0
    assert [p.stat().st_mtime_ns for p in images] == stamps and (out / "table.md").is_file()

    import accelerate

    class TwoProcesses:
        num_processes, process_index, is_main_process, device = 2, 0, True, "cpu"

    monkeypatch.setattr(accelerate, "PartialState", TwoProcesses)
    assert main(args) == 2
    assert "--render-only" in capsys.readouterr().err


def test_evaluate_refuses_models_without_a_scorer_the_clips_need(tmp_path, tiny_pipe):
    from dataclasses import replace

    from sound2img import tiny
    from sound2img.datasets import read

    root = tmp_path / "data"
    root.mkdir()
    clotho(root)
    models = replace(tiny.eval_models(), image_text=None)
    with pytest.raises(Sound2ImgError, match="captions=True"):
        evaluate(tiny_pipe, models, read("clotho", root), [ABLATIONS["wo-opt"]], GenerationParams(steps=2), tmp_path / "out")
    assert not (tmp_path / "out").exists()
