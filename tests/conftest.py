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
