"""Audio in: formats, gain without clipping, trimming, and clear errors for bad input."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from sound2img.audio import load_audio, prepare_audio
from sound2img.errors import Sound2ImgError, Sound2ImgWarning



@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from conftest import EXAMPLES

    samples, rate = sf.read(EXAMPLES / "dog_barking.wav", dtype="float32")
    return samples, rate, EXAMPLES / "dog_barking.wav"


@pytest.mark.parametrize("suffix", [".flac", ".ogg"])
def test_soundfile_formats(tmp_path, reference, suffix):
    samples, rate, _ = reference
    path = tmp_path / f"clip{suffix}"
    sf.write(path, samples, rate)
    audio = load_audio(path)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.sample_rate == rate
    assert audio.duration == pytest.approx(len(samples) / rate, abs=0.01)


@pytest.mark.parametrize("suffix,codec", [(".mp3", "libmp3lame"), (".m4a", "aac"), (".aac", "aac"), (".webm", "libopus")])
def test_ffmpeg_formats(tmp_path, reference, suffix, codec):
    samples, rate, wav = reference
    path = tmp_path / f"clip{suffix}"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", codec, str(path)], check=True)
    audio = load_audio(path)
    assert audio.samples.ndim == 1 and audio.samples.dtype == np.float32
    assert audio.duration == pytest.approx(len(samples) / rate, abs=0.1)  # codecs pad a few ms
    assert 0.3 < audio.peak < 1.5


def test_stereo_is_averaged_to_mono():
    left = np.full(1000, 0.2, dtype=np.float32)
    right = np.full(1000, 0.6, dtype=np.float32)
    audio = prepare_audio(np.stack([left, right], axis=1), 16000)
    assert audio.samples.shape == (1000,)
    assert np.allclose(audio.samples, 0.4)


def test_gain_scales_the_samples_and_is_never_clipped(reference):
    samples, rate, wav = reference
    plain = load_audio(wav)
    with pytest.warns(Sound2ImgWarning, match="above full scale"):
        loud = load_audio(wav, gain=3.0)
    assert np.allclose(loud.samples, 3.0 * plain.samples, atol=1e-6)
    assert loud.peak == pytest.approx(3.0 * plain.peak, rel=1e-6)
    assert loud.peak > 1.0  # not clipped
    assert any("unclipped" in note for note in loud.notes)
    # Resampling keeps the level too (the models read resampled copies).
    assert np.max(np.abs(loud.resampled(16000))) > 1.0


def test_long_input_is_trimmed_with_a_warning():
    samples = np.sin(np.linspace(0, 1000, 16000 * 5)).astype(np.float32) * 0.5
    with pytest.warns(Sound2ImgWarning, match="only the first 2 s"):
        audio = prepare_audio(samples, 16000, max_duration=2.0, source="long.wav")
    assert audio.duration == pytest.approx(2.0)
    assert audio.original_duration == pytest.approx(5.0)


def test_some_nan_samples_become_silence_with_a_note():
    samples = np.array([0.1, np.nan, 0.3, np.inf], dtype=np.float32)
    with pytest.warns(Sound2ImgWarning, match="2 invalid samples"):
        audio = prepare_audio(samples, 8000)
    assert audio.samples.tolist() == pytest.approx([0.1, 0.0, 0.3, 0.0])


@pytest.mark.parametrize(
    "samples,message",
    [
        (np.array([], dtype=np.float32), "zero length"),
        (np.full(100, np.nan, dtype=np.float32), "no valid samples"),
        (np.zeros((2, 3, 4), dtype=np.float32), "shape"),
    ],
)
def test_bad_arrays_raise_one_clear_error(samples, message):
    with pytest.raises(Sound2ImgError, match=message):
        prepare_audio(samples, 16000)


@pytest.mark.parametrize("gain", [0, -1, float("nan"), float("inf")])
def test_bad_gain_is_refused(gain):
    with pytest.raises(Sound2ImgError, match="gain"):
        prepare_audio(np.zeros(10, dtype=np.float32), 16000, gain=gain)


def test_missing_empty_and_non_audio_files(tmp_path):
    with pytest.raises(Sound2ImgError, match="No audio file"):
        load_audio(tmp_path / "nothing.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(Sound2ImgError, match="empty"):
        load_audio(empty)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(Sound2ImgError, match="zero length|could not be decoded"):
        load_audio(zero)


@pytest.mark.parametrize("name", ["notes.wav", "notes.m4a", "notes.txt"])
def test_text_file_is_not_audio(tmp_path, name):
    path = tmp_path / name
    path.write_text("this is not a recording\n" * 20)
    with pytest.raises(Sound2ImgError, match="could not be decoded"):
        load_audio(path)
