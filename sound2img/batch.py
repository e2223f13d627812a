"""Batch generation over a folder: resumable, failure-tolerant, and data-parallel across processes.

Every process lists the same files in the same order and takes every `world`-th one starting at its
`rank` (with `accelerate launch`, ranks span GPUs and machines), so no two processes ever write the same
output. An output counts as finished when its JSON sidecar exists: the image is written first and the
sidecar last (through a temporary name), so an interrupted run redoes at most the file it was on.
A file that cannot be processed (not audio, empty, silent captioner...) is reported and skipped.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .audio import AUDIO_EXTENSIONS
from .errors import Sound2ImgError
from .pipeline import GenerationParams, Sound2Image


@dataclass
class BatchSummary:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"{len(self.done)} generated, {len(self.skipped)} already done, {len(self.failed)} failed"]
        lines += [f"  failed: {path}: {message}" for path, message in self.failed]
        return "\n".join(lines)


def find_audio(folder: str | Path) -> list[Path]:
    """Audio files below `folder`, in a fixed order (the same in every process)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise Sound2ImgError(f"No input folder at {folder}.")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def output_names(files: list[Path], input_dir: Path) -> dict[Path, Path]:
    """Each file's output path (without suffix) relative to the output folder: its relative path minus the
    extension, or with the extension kept where two files differ only in extension (a.wav, a.mp3)."""
    stems = Counter(f.relative_to(input_dir).with_suffix("") for f in files)
    names = {}
    for f in files:
        relative = f.relative_to(input_dir)
        stem = relative.with_suffix("")
        names[f] = stem if stems[stem] == 1 else relative.with_name(relative.name.replace(".", "_"))
    return names


def render_to(pipe: Sound2Image, audio: Path, target: Path, params: GenerationParams) -> bool:
    """Write TARGET.png and its sidecar TARGET.json unless both exist; True when it generated.

    The image is written first and the sidecar last, each through a temporary name, so a sidecar on
    disk means a finished output. A finished output made with other settings is never reused: that is
    an error naming the settings that differ."""
    png, sidecar = target.with_name(target.name + ".png"), target.with_name(target.name + ".json")
    if sidecar.is_file() and png.is_file():
        stored = json.loads(sidecar.read_text(encoding="utf-8")).get("params", {})
        expected = json.loads(json.dumps(pipe.settings(params)))
        changed = sorted(key for key, value in expected.items() if stored.get(key) != value)
        if changed:
            raise Sound2ImgError(
                f"{png} was made with other settings ({', '.join(changed)}); use another output folder, or delete it to redo it."
            )
        return False
    output = pipe(audio, params, show_progress=False)
    png.parent.mkdir(parents=True, exist_ok=True)
    written_png, written_sidecar = output.save(png.with_name(png.stem + ".partial.png"))
    written_png.replace(png)
    written_sidecar.replace(sidecar)
    return True


def run_batch(
    pipe: Sound2Image,
    input_dir: str | Path,
    output_dir: str | Path,
    params: GenerationParams,
    *,
    rank: int = 0,
    world: int = 1,
    show_progress: bool = True,
) -> BatchSummary:
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    files = find_audio(input_dir)
    names = output_names(files, input_dir)
    mine = files[rank::world]
    summary = BatchSummary()
    for path in tqdm(mine, desc=f"batch {rank + 1}/{world}", disable=not show_progress):
        try:
            generated = render_to(pipe, path, output_dir / names[path], params)
        except Sound2ImgError as error:
            summary.failed.append((path, str(error)))
            continue
        (summary.done if generated else summary.skipped).append(path)
    if summary.failed:
        output_dir.mkdir(parents=True, exist_ok=True)
        report = [{"file": str(path), "error": message} for path, message in summary.failed]
        (output_dir / f"failures-rank{rank}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return summary
