"""Batch over a folder: good and bad files, resume, and two ranks that never overlap."""

import json
import shutil
import subprocess
import sys

import pytest
import soundfile as sf

from conftest import EXAMPLES, ROOT
from sound2img import GenerationParams
from sound2img.batch import find_audio, output_names, run_batch


@pytest.fixture
def folder(tmp_path):
    data = tmp_path / "in"
    (data / "farm").mkdir(parents=True)
    shutil.copy(EXAMPLES / "dog_barking.wav", data / "dog.wav")
    shutil.copy(EXAMPLES / "horse_neigh.wav", data / "farm" / "horse.wav")
    samples, rate = sf.read(EXAMPLES / "thunder.wav")
    sf.write(data / "thunder.flac", samples, rate)
    sf.write(data / "thunder.wav", samples, rate)  # same stem, other extension
    (data / "notes.wav").write_text("not a recording")
    (data / "empty.mp3").write_bytes(b"")
    (data / "readme.txt").write_text("not audio, not listed")
    return data


def test_good_files_become_images_bad_ones_are_reported_and_reruns_skip(tiny_pipe, folder, tmp_path):
    out = tmp_path / "out"
    params = GenerationParams(steps=2)
    summary = run_batch(tiny_pipe, folder, out, params, show_progress=False)
    assert sorted(p.name for p in summary.done) == ["dog.wav", "horse.wav", "thunder.flac", "thunder.wav"]
    assert sorted(p.name for p, _ in summary.failed) == ["empty.mp3", "notes.wav"]
    for name in ("dog", "farm/horse", "thunder_flac", "thunder_wav"):
        assert (out / f"{name}.png").is_file()
        assert json.loads((out / f"{name}.json").read_text())["caption"]
    assert not list(out.rglob("*.partial.*"))
    failures = json.loads((out / "failures-rank0.json").read_text())
    assert {f["file"].split("/")[-1] for f in failures} == {"empty.mp3", "notes.wav"}

    again = run_batch(tiny_pipe, folder, out, params, show_progress=False)
    assert again.done == [] and len(again.skipped) == 4 and len(again.failed) == 2

    other = run_batch(tiny_pipe, folder, out, GenerationParams(steps=3, seed=1), show_progress=False)
    assert other.done == [] and other.skipped == [] and len(other.failed) == 6  # never reused with other settings
    assert all("other settings (seed, steps)" in message for path, message in other.failed if path.suffix != ".mp3" and path.name != "notes.wav")


def test_two_ranks_split_the_files_without_overlap(folder):
    files = find_audio(folder)
    names = output_names(files, folder)
    rank0, rank1 = files[0::2], files[1::2]
    assert set(rank0).isdisjoint(rank1) and set(rank0) | set(rank1) == set(files)
    assert len(set(names.values())) == len(files)  # no two outputs collide


def test_two_simulated_ranks_write_disjoint_outputs(tiny_pipe, folder, tmp_path):
    out = tmp_path / "out"
    params = GenerationParams(steps=2)
    first = run_batch(tiny_pipe, folder, out, params, rank=0, world=2, show_progress=False)
    second = run_batch(tiny_pipe, folder, out, params, rank=1, world=2, show_progress=False)
    handled = lambda s: set(s.done) | {p for p, _ in s.failed}
    assert handled(first).isdisjoint(handled(second))
    assert handled(first) | handled(second) == set(find_audio(folder))


def test_batch_cli(folder, tmp_path):
    out = tmp_path / "cli-out"
    result = subprocess.run([sys.executable, "-m", "sound2img", "batch", str(folder), str(out), "--preset", "tiny", "--steps", "2", "--quiet"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1  # some files failed; all the others were done
    assert "4 generated, 0 already done, 2 failed" in result.stdout
    assert (out / "dog.png").is_file()
