"""Dataset readers on tiny copies of each published format, and the Multi-ESC50 builder."""

import pytest
import soundfile as sf

from conftest import EXAMPLES
from conftest import write_clip as clip
from conftest import write_esc50
from sound2img import Sound2ImgError
from sound2img.datasets import MULTI_ESC50_PAIRS, URBANSOUND_CLASSES, ensure_audio, read


def test_audiocaps_groups_captions_and_finds_audio_by_any_usual_name(tmp_path):
    (tmp_path / "test.csv").write_text(
        "audiocap_id,youtube_id,start_time,caption\n"
        "101,yt_a,30,A dog barks\n102,yt_a,30,A dog is barking loudly\n"
        "103,yt_b,0,Rain falls\n104,yt_c,10,Wind blows\n105,yt_d,20,Birds sing\n106,yt_e,40,A car passes\n107,yt_f,0,Silence\n"
    )
    clip(tmp_path / "audio" / "yt_a.wav")
    clip(tmp_path / "103.flac")
    clip(tmp_path / "audio" / "Yyt_d.wav")
    clip(tmp_path / "yt_e_40.ogg")
    data = read("audiocaps", tmp_path)
    assert [(c.id, c.path.name) for c in data.clips] == [("yt_a", "yt_a.wav"), ("yt_b", "103.flac"), ("yt_d", "Yyt_d.wav"), ("yt_e", "yt_e_40.ogg")]
    assert data.clips[0].captions == ["A dog barks", "A dog is barking loudly"] and data.clips[1].captions == ["Rain falls"]
    assert data.missing == ["yt_c", "yt_f"]


def test_clotho_reads_five_captions(tmp_path):
    header = "file_name," + ",".join(f"caption_{i}" for i in range(1, 6))
    (tmp_path / "clotho_captions_evaluation.csv").write_text(f"{header}\nbirds.wav,a,b,c,d,e\ngone.wav,f,g,h,i,j\n")
    clip(tmp_path / "evaluation" / "birds.wav")
    data = read("clotho", tmp_path)
    assert data.clips[0].captions == ["a", "b", "c", "d", "e"] and data.missing == ["gone.wav"]


def test_the_examples_folder_is_a_small_clotho_set():
    data = read("clotho", EXAMPLES)
    assert sorted(c.path.name for c in data.clips) == sorted(p.name for p in EXAMPLES.glob("*.wav"))
    assert all(len(c.captions) == 5 for c in data.clips) and not data.missing


def test_urbansound8k_keeps_the_four_classes(tmp_path):
    rows = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    for i, name in enumerate(["dog_bark", "siren", "gun_shot", "jackhammer", "children_playing", "car_horn"]):
        rows.append(f"{i}-0-0-0.wav,{i},0,1,1,{i % 2 + 1},{i},{name}")
        folder = tmp_path / "audio" if i < 3 else tmp_path  # fold folders inside audio/ or at the top
        clip(folder / f"fold{i % 2 + 1}" / f"{i}-0-0-0.wav")
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "UrbanSound8K.csv").write_text("\n".join(rows) + "\n")
    data = read("urbansound8k", tmp_path)
    assert sorted(c.label for c in data.clips) == sorted(URBANSOUND_CLASSES)


@pytest.fixture
def esc50_root(tmp_path):
    return write_esc50(tmp_path / "esc50", sorted({c for pair in MULTI_ESC50_PAIRS for c in pair}))


def test_esc50_also_reads_a_flat_folder(esc50_root, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "esc50.csv").write_text((esc50_root / "meta" / "esc50.csv").read_text())
    files = sorted((esc50_root / "audio").iterdir())
    for path in files[1:]:  # all but the first file, next to the CSV
        path.rename(flat / path.name)
    data = read("esc50", flat)
    assert sorted(c.path for c in data.clips) == sorted(flat / p.name for p in files[1:])
    assert data.missing == [files[0].name]


def test_multi_esc50_builds_seeded_concatenations(esc50_root, tmp_path):
    data = read("multi-esc50", esc50_root, out_dir=tmp_path / "m", per_pair=3, seed=1)
    assert len(data.clips) == 3 * len(MULTI_ESC50_PAIRS) == 21
    assert {c.label for c in data.clips} == {f"{a}+{b}" for a, b in MULTI_ESC50_PAIRS}
    first = sf.info(data.clips[0].path)
    assert first.duration == pytest.approx(0.5, abs=0.01)  # two 0.25 s clips, the second resampled
    again = read("multi-esc50", esc50_root, out_dir=tmp_path / "m2", per_pair=3, seed=1)
    assert [sf.read(c.path)[0].tolist() for c in again.clips[:3]] == [sf.read(c.path)[0].tolist() for c in data.clips[:3]]


def test_multi_esc50_can_defer_writing_to_the_clips_used(esc50_root, tmp_path):
    lazy = read("multi-esc50", esc50_root, out_dir=tmp_path / "lazy", per_pair=3, seed=1, write=False)
    eager = read("multi-esc50", esc50_root, out_dir=tmp_path / "eager", per_pair=3, seed=1)
    assert not any(c.path.exists() for c in lazy.clips)
    assert [c.parts for c in lazy.clips] == [c.parts for c in eager.clips]  # the same seeded draw
    written = ensure_audio(lazy.clips[4])
    assert sf.read(written)[0].tolist() == sf.read(eager.clips[4].path)[0].tolist()
    assert [p.name for p in (tmp_path / "lazy").iterdir()] == [written.name]


def test_missing_csv_and_unknown_names_are_clear(tmp_path):
    with pytest.raises(Sound2ImgError, match="test.csv"):
        read("audiocaps", tmp_path)
    with pytest.raises(Sound2ImgError, match="Unknown dataset"):
        read("imagenet", tmp_path)
