"""`Sound2Image`: audio → caption → attentions → W_init → z_n → Stable Diffusion image.

Load once (`Sound2Image.from_preset("default")`), call many times. Each call returns a
`Sound2ImageOutput` holding the image and everything needed to understand and reproduce it.
"""

from __future__ import annotations

import json
import platform
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import torch
from PIL import Image, PngImagePlugin

from . import __version__
from .audio import DEFAULT_MAX_DURATION, Audio, load_audio
from .captioning import Captioner
from .conditioning import TokenWeight, apply_weights, encode_text, weight_tokens
from .dso import DSOConfig, DSOResult, optimize
from .errors import Sound2ImgError
from .presets import Preset, get_preset
from .sampling import LatentDiffusionSampler, check_scheduler, to_pil
from .scoring import AudioImageScorer, ImageTextScorer
from .sentence_attention import NounScorer
from .weighting import WeightingConfig, WordWeight, caption_word_weights, join_prompt, text_word_weights


@dataclass
class GenerationParams:
    """Everything a user can set for one image; None means "the preset's default"."""

    gain: float = 1.0
    text: str | None = None
    text_weight: float = 1.0
    negative_prompt: str = ""
    seed: int = 0
    steps: int | None = None
    guidance_scale: float | None = None
    size: int | None = None
    scheduler: str | None = None
    max_duration: float = DEFAULT_MAX_DURATION
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    dso: DSOConfig | None = None

    def resolved(self, preset: Preset) -> "GenerationParams":
        """A copy with the preset's defaults filled in, checked for values that cannot work."""
        params = replace(
            self,
            steps=self.steps if self.steps is not None else preset.steps,
            guidance_scale=self.guidance_scale if self.guidance_scale is not None else preset.guidance_scale,
            size=self.size if self.size is not None else preset.size,
            scheduler=self.scheduler or preset.scheduler,
            dso=self.dso if self.dso is not None else preset.dso,
        )
        check_scheduler(params.scheduler)  # before the captioner runs, not after
        if not 0 <= params.seed < 2**63:
            raise Sound2ImgError(f"The seed must be between 0 and 2^63 − 1, got {params.seed}.")
        if params.guidance_scale < 0:
            raise Sound2ImgError(f"The guidance scale must not be negative, got {params.guidance_scale}.")
        return params


@dataclass
class CaptionAnalysis:
    """The first, cheap half of the pipeline: the caption and the per-word attentions and weights."""

    caption: str
    prompt: str
    words: list[WordWeight]
    audio: Audio
    notes: list[str]


@dataclass
class DSOModels:
    """What direct sound optimization needs beyond the image model: its two scorers and a cheap decoder."""

    image_text: ImageTextScorer
    audio_image: AudioImageScorer
    taesd: Any = None


@dataclass
class Sound2ImageOutput:
    """An image and the reasoning behind it.

    With DSO, `dso` has one entry per update (the rendering before it), `dso_final` the scores of the
    image after the last update, `weights_after` each word's weight after DSO (mean over its tokens and
    channels), and `dso_images` the image of every rendering.
    """

    image: Image.Image
    caption: str
    prompt: str
    words: list[WordWeight]
    tokens: list[TokenWeight]
    seed: int
    params: dict[str, Any]
    models: dict[str, Any]
    timings: dict[str, float]
    versions: dict[str, str]
    warnings: list[str]
    dso: list[dict[str, Any]] = field(default_factory=list)
    dso_final: dict[str, Any] | None = None
    weights_after: list[float] | None = None
    dso_images: list[Image.Image] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the images, as JSON-ready data (the CLI's sidecar file)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self) if f.name not in ("image", "dso_images")}

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write the PNG (caption and seed in its text metadata) and a JSON sidecar next to it."""
        png = Path(path)
        if png.suffix.lower() != ".png":
            raise Sound2ImgError(f"The output image must be a .png file, got {png.name}.")
        png.parent.mkdir(parents=True, exist_ok=True)
        info = PngImagePlugin.PngInfo()
        info.add_itxt("caption", self.caption)
        info.add_itxt("prompt", self.prompt)
        info.add_text("seed", str(self.seed))
        info.add_text("software", f"sound2img {__version__}")
        self.image.save(png, pnginfo=info)
        sidecar = png.with_suffix(".json")
        sidecar.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return png, sidecar


class Sound2Image:
    """The sound-to-image pipeline; its components are the models of each stage."""

    def __init__(
        self,
        captioner: Captioner,
        noun_scorer: NounScorer,
        tokenizer,
        text_encoder,
        sampler: LatentDiffusionSampler,
        preset: Preset,
        dso_models: DSOModels | Callable[[], DSOModels] | None = None,
    ):
        self.captioner = captioner  # audio → caption with audio attention A
        self.noun_scorer = noun_scorer  # caption → sentence attention S
        self.tokenizer = tokenizer  # CLIP tokenizer of the image model, with character offsets
        self.text_encoder = text_encoder  # CLIP text encoder: prompt → z
        self.sampler = sampler  # UNet + VAE + scheduler: z_n → image
        self.preset = preset
        self._dso_models = dso_models  # CLIP + AudioCLIP (+ TAESD), or a loader called on first DSO use
        self._dso_lock = threading.Lock()

    @property
    def dso_models(self) -> DSOModels:
        """The DSO scorers, loaded on first use so that runs without DSO never download them."""
        with self._dso_lock:
            if callable(self._dso_models):
                self._dso_models = self._dso_models()
            if self._dso_models is None:
                raise Sound2ImgError("This pipeline has no DSO scorers; build it with dso_models or use --dso-steps 0.")
            return self._dso_models

    @classmethod
    def from_preset(cls, name: str = "default", *, device: str | torch.device | None = None, torch_dtype: torch.dtype | None = None) -> "Sound2Image":
        """Load every model of a preset; hub models come at their pinned revisions."""
        preset = get_preset(name)
        device = resolve_device(device)
        if preset.in_process:
            from . import tiny

            parts = tiny.build(style_prefix=preset.style_prefix)
            dtype = torch_dtype or torch.float32
            text_encoder, unet, vae = (place(m, device, dtype) for m in (parts.text_encoder, parts.unet, parts.vae))
            parts.captioner.model.to(device)
            parts.image_text_scorer.model.to(device)
            parts.audio_image_scorer.model.to(device)
            sampler = LatentDiffusionSampler(unet, vae, parts.scheduler_config)
            dso_models = DSOModels(parts.image_text_scorer, parts.audio_image_scorer, place(parts.taesd, device, dtype))
            return cls(parts.captioner, parts.noun_scorer, parts.tokenizer, text_encoder, sampler, preset, dso_models)

        from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizerFast

        from .captioning import WhisperCaptioner
        from .sentence_attention import FlairNounScorer

        # On GPU half precision; bfloat16 where the card has it, since DSO backpropagates through the UNet
        # and float16 gradients underflow more easily.
        dtype = torch_dtype or default_dtype(device)
        repo, revision = preset.diffusion.repo_id, preset.diffusion.revision

        def component(model_class, subfolder: str, **kwargs):
            return model_class.from_pretrained(repo, subfolder=subfolder, revision=revision, **kwargs)

        try:
            captioner = WhisperCaptioner.from_pretrained(
                preset.captioner.repo_id, preset.captioner.revision, device=device, style_prefix=preset.style_prefix
            )
            noun_scorer = FlairNounScorer.from_pretrained(preset.tagger.repo_id, preset.tagger.revision)
            tokenizer = component(CLIPTokenizerFast, "tokenizer")
            # Frozen: sound2img never trains them, so no weight gradients are ever computed.
            text_encoder = component(CLIPTextModel, "text_encoder", torch_dtype=dtype).to(device).eval().requires_grad_(False)
            unet = component(UNet2DConditionModel, "unet", torch_dtype=dtype).to(device).eval().requires_grad_(False)
            vae = component(AutoencoderKL, "vae", torch_dtype=dtype).to(device).eval().requires_grad_(False)
            scheduler_config = component(PNDMScheduler, "scheduler").config
            if preset.lora is not None:
                _fuse_lora(preset.lora, tokenizer, text_encoder, unet, vae, scheduler_config)
        except OSError as error:  # what huggingface_hub and transformers raise for missing files and no network
            raise Sound2ImgError(
                f"Could not load the models of preset {name!r} ({error}). They are downloaded from the Hugging Face "
                "Hub on first use: check the network connection, or try `--preset tiny`, which needs no download."
            ) from error
        sampler = LatentDiffusionSampler(unet, vae, scheduler_config)
        return cls(captioner, noun_scorer, tokenizer, text_encoder, sampler, preset, lambda: _load_dso_models(device, dtype))

    @property
    def models(self) -> dict[str, Any]:
        """Which weights produced a result: hub ids and revisions, or the in-process tiny models."""
        if self.preset.in_process:
            return {"preset": self.preset.name, "note": "tiny random-weight models built in-process (sound2img.tiny)"}
        roles = {"captioner": self.preset.captioner, "tagger": self.preset.tagger, "diffusion": self.preset.diffusion}
        return {"preset": self.preset.name, **{role: asdict(model) for role, model in roles.items()}}

    def settings(self, params: GenerationParams) -> dict[str, Any]:
        """The settings an image is made with, as its sidecar records them (`params`, less the audio)."""
        return {**asdict(params.resolved(self.preset)), "preset": self.preset.name}

    def analyze(self, audio: str | Path | Audio, params: GenerationParams | None = None, *, timings: dict[str, float] | None = None) -> CaptionAnalysis:
        """Audio → caption → attentions → W_init per word, without any diffusion (cheap)."""
        params = params or GenerationParams()
        timings = timings if timings is not None else {}
        with _timed(timings, "load_audio"):
            clip = audio if isinstance(audio, Audio) else load_audio(audio, gain=params.gain, max_duration=params.max_duration)
        # 1. Caption with audio attention A (Sec. 3.1–3.2).
        with _timed(timings, "caption"):
            caption = self.captioner.caption(clip)
        # 2. Sentence attention S: noun probability of every caption word (Sec. 3.2).
        with _timed(timings, "tag"):
            nouns = self.noun_scorer.score(caption.text, caption.words)
        # 3. W_init per word (eq. 1–4), then the user's extra text with its fusion weight (Sec. 4.7).
        prompt, offset = join_prompt(caption.text, params.text)
        words = caption_word_weights(caption, nouns, params.weighting) + text_word_weights(params.text, offset, params.text_weight)
        return CaptionAnalysis(caption=caption.text, prompt=prompt, words=words, audio=clip, notes=clip.notes + caption.notes)

    @torch.no_grad()
    def __call__(
        self,
        audio: str | Path | Audio,
        params: GenerationParams | None = None,
        *,
        callback: Callable[[int, int], None] | None = None,
        dso_callback: Callable[[int, int], None] | None = None,
        show_progress: bool = True,
    ) -> Sound2ImageOutput:
        """Generate an image for a sound; `callback(step, total)` reports sampler steps of the first
        rendering and `dso_callback(step, total)` each DSO update."""
        params = (params or GenerationParams()).resolved(self.preset)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        analysis = self.analyze(audio, params, timings=timings)

        # 4. z = CLIP embedding of the prompt; z_n = W ⊙ z (eq. 5). The negative prompt is not weighted.
        with _timed(timings, "encode"):
            conditioning = weight_tokens(self.tokenizer, analysis.prompt, analysis.words)
            negative = weight_tokens(self.tokenizer, params.negative_prompt)
            z = encode_text(self.text_encoder, conditioning.input_ids)
            negative_embeds = encode_text(self.text_encoder, negative.input_ids)
        latents = self.sampler.initial_latents(params.seed, params.size, params.size)

        def embed(weights: torch.Tensor) -> torch.Tensor:
            return apply_weights(z, weights, params.weighting.preserve_mean)

        def render(weights: torch.Tensor, differentiable: bool = False, progress: Callable | None = None) -> torch.Tensor:
            """5. Sample from the fixed seeded noise with classifier-free guidance, then decode."""
            dso = params.dso
            out = self.sampler.denoise(
                latents,
                embed(weights),
                negative_embeds,
                scheduler=params.scheduler,
                steps=params.steps,
                guidance_scale=params.guidance_scale,
                callback=progress,
                show_progress=show_progress and not differentiable,
                grad_steps=dso.grad_steps if differentiable else None,
                checkpoint=dso.checkpoint and differentiable,
                noise_seed=params.seed,
            )
            cheap = differentiable and dso.decoder == "taesd"
            return self.sampler.decode(out, self.dso_models.taesd if cheap else None)

        notes = analysis.notes + conditioning.notes + negative.notes
        dso_result: DSOResult | None = None
        if params.dso.steps == 0:
            with _timed(timings, "sample"):
                image = to_pil(render(conditioning.weights, progress=callback))
        else:
            # 6. Direct sound optimization of W (Sec. 3.5, eq. 6); its first rendering is the W_init image.
            with _timed(timings, "dso"):
                dso_result = self._optimize(analysis, conditioning, z, embed, render, params.dso, dso_callback)
            image = dso_result.chosen.image
            if dso_result.chosen is not dso_result.final and params.dso.decoder == "taesd":
                with _timed(timings, "decode_chosen"):  # DSO renderings were decoded cheaply; the result is not
                    image = to_pil(render(dso_result.chosen.weights))
            notes += dso_result.notes
        timings["total"] = time.perf_counter() - start

        output = Sound2ImageOutput(
            image=image,
            caption=analysis.caption,
            prompt=analysis.prompt,
            words=analysis.words,
            tokens=conditioning.tokens,
            seed=params.seed,
            params={**self.settings(params), "audio": analysis.audio.source},
            models=self.models,
            timings=timings,
            versions=_versions(),
            warnings=notes,
        )
        if dso_result is not None:
            output.dso = [step.record() for step in dso_result.steps]
            output.dso_final = {**dso_result.final.record(), "chosen_step": dso_result.chosen.step}
            output.weights_after = _word_weights(dso_result.chosen.weights, conditioning.tokens, len(analysis.words))
            output.dso_images = [step.image for step in dso_result.steps] + [dso_result.final.image]
        return output

    def _optimize(self, analysis: CaptionAnalysis, conditioning, z, embed, render, config: DSOConfig, callback) -> DSOResult:
        models = self.dso_models
        noun_tokens = torch.tensor(
            [[t.word_index is not None and analysis.words[t.word_index].is_noun for t in conditioning.tokens]
             + [False] * (conditioning.weights.shape[1] - len(conditioning.tokens))]
        )
        return optimize(
            render=render,
            z=z,
            weights=conditioning.weights,
            noun_tokens=noun_tokens,
            caption_embedding=models.image_text.text_embedding(analysis.prompt),
            audio_embedding=models.audio_image.audio_embedding(analysis.audio),
            image_text=models.image_text,
            audio_image=models.audio_image,
            config=config,
            embed=embed,
            callback=callback,
        )


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The given device, checked to exist here; by default CUDA when there is a GPU, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError:
        raise Sound2ImgError(f"Unknown device {str(device)!r}; use e.g. cpu, cuda or cuda:1.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise Sound2ImgError("The device is CUDA but this machine has no usable CUDA GPU; use --device cpu.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise Sound2ImgError(f"There is no GPU {device.index}; this machine has {torch.cuda.device_count()}.")
    return device


def default_dtype(device: torch.device) -> torch.dtype:
    """float32 on CPU; on GPU bfloat16 where supported, else float16."""
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def place(model, device: torch.device, dtype: torch.dtype):
    """Move a model to `device`, converting it only when its dtype differs (diffusers warns on every cast)."""
    model = model.to(device)
    return model if model.dtype == dtype else model.to(dtype=dtype)


def _word_weights(weights: torch.Tensor, tokens: list[TokenWeight], n_words: int) -> list[float]:
    """Per word: the mean of its tokens' weights (and channels, for per-channel W)."""
    per_token = weights[0].float()
    per_token = per_token.mean(-1) if per_token.dim() == 2 else per_token
    sums, counts = [0.0] * n_words, [0] * n_words
    for position, token in enumerate(tokens):
        if token.word_index is not None:
            sums[token.word_index] += float(per_token[position])
            counts[token.word_index] += 1
    return [total / count if count else float("nan") for total, count in zip(sums, counts)]


def _fuse_lora(lora, tokenizer, text_encoder, unet, vae, scheduler_config) -> None:
    """Load a LoRA into the UNet (diffusers' loader, in place) and fuse it, so sampling costs nothing extra."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    holder = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=PNDMScheduler.from_config(scheduler_config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    holder.load_lora_weights(lora.repo_id, revision=lora.revision, weight_name="pytorch_lora_weights.safetensors")
    holder.fuse_lora()
    holder.unload_lora_weights()
    unet.requires_grad_(False)


def _load_dso_models(device: torch.device, dtype: torch.dtype) -> DSOModels:
    """CLIP ViT-B/32, AudioCLIP and TAESD at pinned versions, downloaded on first DSO use."""
    from .audioclip import AudioCLIP
    from .presets import CLIP_VIT_B32, TAESD
    from .scoring import AudioClipScorer, ClipScorer

    try:
        image_text = ClipScorer.from_pretrained(CLIP_VIT_B32.repo_id, CLIP_VIT_B32.revision, device=device)
        audio_image = AudioClipScorer(AudioCLIP.from_pretrained().to(device))
        from diffusers import AutoencoderTiny

        taesd = AutoencoderTiny.from_pretrained(TAESD.repo_id, revision=TAESD.revision, torch_dtype=dtype).to(device)
        taesd.eval().requires_grad_(False)
    except OSError as error:
        raise Sound2ImgError(f"Could not load the models for direct sound optimization ({error}); try --dso-steps 0.") from error
    return DSOModels(image_text, audio_image, taesd)


@contextmanager
def _timed(timings: dict[str, float], name: str):
    start = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - start


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _versions() -> dict[str, str]:
    packages = ("torch", "diffusers", "transformers", "flair", "huggingface_hub")
    return {"sound2img": __version__, "python": platform.python_version(), **{name: _version(name) for name in packages}}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value
