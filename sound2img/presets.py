"""Named model sets. Every hub model is pinned to a commit, so a preset means the same weights forever."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Sound2ImgError


@dataclass(frozen=True)
class HubModel:
    """A Hugging Face Hub repository at a fixed commit."""

    repo_id: str
    revision: str


WHISPER_SMALL_CAPTIONING = HubModel("MU-NLPC/whisper-small-audio-captioning", "e660e78f8b320a69e44e77af5d23a99b071e12f8")
FLAIR_UPOS_ENGLISH = HubModel("flair/upos-english", "dbd8c366d6c4c3b4c5dd2f5a8752802f87c57924")
SD_15 = HubModel("stable-diffusion-v1-5/stable-diffusion-v1-5", "451f4fe16113bff5a5d2269ed5ad43b0592e9a14")
SD_14 = HubModel("CompVis/stable-diffusion-v1-4", "133a221b8aa7292a167afc5127cb63fb5005638b")


@dataclass(frozen=True)
class Preset:
    """Which models to load and the sampling defaults that go with them.

    A preset whose models are None builds tiny random-weight models in-process (see `sound2img.tiny`).
    """

    name: str
    description: str
    captioner: HubModel | None
    tagger: HubModel | None
    diffusion: HubModel | None
    scheduler: str = "pndm"
    steps: int = 40
    guidance_scale: float = 7.5
    size: int = 512
    style_prefix: str = "clotho > caption: "

    @property
    def in_process(self) -> bool:
        return self.diffusion is None


PRESETS = {
    "default": Preset(
        name="default",
        description="Whisper-small audio captioning, FLAIR UPOS, Stable Diffusion 1.5; PLMS 40 steps, 512².",
        captioner=WHISPER_SMALL_CAPTIONING,
        tagger=FLAIR_UPOS_ENGLISH,
        diffusion=SD_15,
    ),
    "paper": Preset(
        name="paper",
        description="As in the paper: Stable Diffusion 1.4, PLMS 40 steps, 512², guidance 7.5.",
        captioner=WHISPER_SMALL_CAPTIONING,
        tagger=FLAIR_UPOS_ENGLISH,
        diffusion=SD_14,
    ),
    "tiny": Preset(
        name="tiny",
        description="Tiny random-weight models built in-process: no download, seconds on a CPU, meaningless images.",
        captioner=None,
        tagger=None,
        diffusion=None,
        steps=10,
        size=64,
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise Sound2ImgError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.") from None
