"""Named model sets. Every hub model is pinned to a commit, so a preset means the same weights forever."""

from __future__ import annotations

from dataclasses import dataclass, field

from .dso import DSOConfig
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
# Direct sound optimization: CLIP for the image–caption term, the tiny autoencoder for cheap decodes, and
# the LCM-LoRA that makes SD 1.5 sample in 4 steps (the fast preset). AudioCLIP is a GitHub release file
# (`sound2img.audioclip.CHECKPOINT_URL`, checked by sha256).
CLIP_VIT_B32 = HubModel("openai/clip-vit-base-patch32", "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268")
TAESD = HubModel("madebyollin/taesd", "f4a5c744c09b16bba019971e6fdb156bd633332b")
LCM_LORA_SD15 = HubModel("latent-consistency/lcm-lora-sdv1-5", "cf2fced511dbe7e26c8d1d397e728fbab875db4b")
# Evaluation only: the COCO object detector of the object score (RT-DETR R18, Apache-2.0; `sound2img.metrics`).
RTDETR_R18 = HubModel("PekingU/rtdetr_r18vd", "ac77a11ff0170a41b771c03264987f8ce2b0d753")


@dataclass(frozen=True)
class Preset:
    """Which models to load and the sampling defaults that go with them.

    A preset whose models are None builds tiny random-weight models in-process (see `sound2img.tiny`).
    `dso` holds the preset's direct-sound-optimization defaults (steps = 0: off unless asked).
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
    lora: HubModel | None = None
    dso: DSOConfig = field(default_factory=DSOConfig)

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
    "fast": Preset(
        name="fast",
        description="SD 1.5 with the LCM-LoRA: 4 steps, no guidance. DSO decodes with TAESD and backpropagates "
        "through the last 2 steps: 10 DSO steps make 44 UNet passes of batch 1 and 20 backward passes, against "
        "41 passes of batch 2 for an ordinary 40-step render with guidance.",
        captioner=WHISPER_SMALL_CAPTIONING,
        tagger=FLAIR_UPOS_ENGLISH,
        diffusion=SD_15,
        lora=LCM_LORA_SD15,
        scheduler="lcm",
        steps=4,
        guidance_scale=1.0,
        dso=DSOConfig(grad_steps=2, decoder="taesd"),
    ),
    "tiny": Preset(
        name="tiny",
        description="Tiny random-weight models built in-process: no download, seconds on a CPU, meaningless images.",
        captioner=None,
        tagger=None,
        diffusion=None,
        steps=10,
        size=64,
        dso=DSOConfig(steps=0, cutouts=2),
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise Sound2ImgError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.") from None
