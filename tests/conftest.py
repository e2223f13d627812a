import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def tiny_parts():
    from sound2img import tiny

    return tiny.build()


@pytest.fixture(scope="session")
def tiny_pipe():
    from sound2img import Sound2Image

    return Sound2Image.from_preset("tiny", device="cpu")


@pytest.fixture
def example_wav() -> Path:
    return EXAMPLES / "dog_barking.wav"


def write_clip(path: Path, seconds: float = 0.5, rate: int = 16000, seed: int = 0) -> Path:
    """A short noise recording: audio a dataset reader can find and the tiny pipeline can render."""
    import numpy as np
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.random.default_rng(seed).uniform(-0.3, 0.3, int(seconds * rate)).astype(np.float32), rate)
    return path


def write_esc50(root: Path, classes) -> Path:
    """ESC-50 as published: meta/esc50.csv and audio/, two takes per class at different sample rates."""
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    for i, name in enumerate(classes):
        for take in "AB":
            filename = f"1-{i}-{take}-{i}.wav"
            rows.append(f"{filename},1,{i},{name},False,{i},{take}")
            write_clip(root / "audio" / filename, seconds=0.25, rate=44100 if take == "A" else 22050, seed=i)
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    return root
