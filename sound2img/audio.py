"""Audio in: decode any common file to mono float32, apply the amplitude gain, trim to a maximum length.

Every later stage reads the same `Audio` object and resamples it to the rate its model needs, so the gain
and the trimming happen exactly once. The gain is applied to the samples and is never clipped: a gain of
×3 on a loud clip gives samples above 1.0 (above full scale), which is what the paper's "louder sound"
experiment (Sec. 4.6) needs. The models take float features, so nothing is lost; a note tells the user
how far above full scale the signal went.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import Sound2ImgError, notify

DEFAULT_MAX_DURATION = 30.0
# What folder readers (batch, datasets) take for audio.
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".webm", ".opus", ".aiff", ".aif", ".mp4"}
# Formats that libsndfile reads directly; everything else (m4a, aac, webm, mp4, ...) goes through ffmpeg.
_SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif"}


@dataclass
class Audio:
    """A mono recording after gain and trimming, at its native sample rate."""

    samples: np.ndarray
    sample_rate: int
    gain: float = 1.0
    source: str = "<array>"
    original_duration: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def peak(self) -> float:
        return float(np.max(np.abs(self.samples)))

    def resampled(self, sample_rate: int) -> np.ndarray:
        """The samples at `sample_rate` (each model has its own), keeping the gain and any value above 1.0."""
        if sample_rate == self.sample_rate:
            return self.samples
        return soxr.resample(self.samples, self.sample_rate, sample_rate, quality="HQ")


def prepare_audio(
    samples: np.ndarray,
    sample_rate: int,
    *,
    gain: float = 1.0,
    max_duration: float = DEFAULT_MAX_DURATION,
    source: str = "<array>",
) -> Audio:
    """Check decoded samples, mix them to mono, apply `gain` and trim to `max_duration` seconds."""
    if not (isinstance(gain, (int, float)) and math.isfinite(gain) and gain > 0):
        raise Sound2ImgError(f"The amplitude gain must be a positive number, got {gain!r}.")
    if not (math.isfinite(max_duration) and max_duration > 0):
        raise Sound2ImgError(f"The maximum duration must be a positive number of seconds, got {max_duration!r}.")
    if sample_rate <= 0:
        raise Sound2ImgError(f"{source}: the sample rate must be positive, got {sample_rate}.")
    data = np.asarray(samples, dtype=np.float64)
    if data.ndim == 2:
        # Channels may come first or last (soundfile: last); the shorter axis holds them.
        data = data.mean(axis=0 if data.shape[0] < data.shape[1] else 1)
    if data.ndim != 1:
        raise Sound2ImgError(f"{source}: expected mono or multi-channel audio, got an array of shape {data.shape}.")
    if data.size == 0:
        raise Sound2ImgError(f"{source}: the recording has zero length (no samples).")
    finite = np.isfinite(data)
    if not finite.any():
        raise Sound2ImgError(f"{source}: the recording holds no valid samples (all NaN or infinite).")

    notes: list[str] = []
    if not finite.all():
        notify(notes, f"{source}: {int((~finite).sum())} invalid samples (NaN or infinite) were replaced by silence.")
        data = np.where(finite, data, 0.0)
    original_duration = data.size / sample_rate
    if original_duration > max_duration:
        data = data[: int(round(max_duration * sample_rate))]
        notify(notes, f"{source}: the recording is {original_duration:.1f} s long; only the first {max_duration:g} s are used.")
    if not np.any(data):
        notify(notes, f"{source}: the recording is silent; the caption will describe silence.")

    data = data * gain
    peak = float(np.max(np.abs(data)))
    if peak > 1.0:
        notify(
            notes,
            f"{source}: with gain ×{gain:g} the signal peaks at {20 * math.log10(peak):+.1f} dBFS, above full scale; "
            "it is passed to the models unclipped.",
        )
    return Audio(
        samples=data.astype(np.float32),
        sample_rate=int(sample_rate),
        gain=float(gain),
        source=source,
        original_duration=original_duration,
        notes=notes,
    )


def load_audio(path: str | Path, *, gain: float = 1.0, max_duration: float = DEFAULT_MAX_DURATION) -> Audio:
    """Decode an audio file (wav, flac, ogg, mp3 directly; m4a, aac, webm and others through ffmpeg)."""
    path = Path(path)
    if not path.is_file():
        raise Sound2ImgError(f"No audio file at {path}.")
    if path.stat().st_size == 0:
        raise Sound2ImgError(f"{path.name}: the file is empty.")
    samples, sample_rate = _decode(path)
    return prepare_audio(samples, sample_rate, gain=gain, max_duration=max_duration, source=path.name)


def _decode(path: Path) -> tuple[np.ndarray, int]:
    if path.suffix.lower() in _SOUNDFILE_SUFFIXES:
        try:
            samples, sample_rate = sf.read(path, dtype="float32", always_2d=False)
            return samples, sample_rate
        except (sf.LibsndfileError, RuntimeError, TypeError):
            pass  # A mislabelled or unusual file: ffmpeg below gets a second try and gives the error.
    return _decode_with_ffmpeg(path)


def _decode_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise Sound2ImgError(
            f"{path.name}: this format needs ffmpeg, which is not installed (Debian/Ubuntu: apt-get install ffmpeg)."
        )
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "decoded.wav"
        result = subprocess.run(
            [ffmpeg, "-v", "error", "-nostdin", "-i", str(path), "-vn", "-ac", "1", "-c:a", "pcm_f32le", str(wav)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0 or not wav.is_file():
            reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "unknown reason"
            raise Sound2ImgError(f"{path.name}: could not be decoded as audio ({reason}).")
        samples, sample_rate = sf.read(wav, dtype="float32", always_2d=False)
    return samples, sample_rate
