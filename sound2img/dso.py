"""Direct sound optimization (paper Sec. 3.5, eq. 6): a few Adam steps on the token weights W.

    L_total = λ_aCLIP·L_aCLIP + λ_CLIP·L_CLIP + λ_L2·L_L2                                       (eq. 6)

- L_aCLIP = 1 − (s/100)·cos(AudioCLIP(audio), AudioCLIP(image)), s = clamp(exp(logit_scale_ai), 1, 100);
- L_CLIP  = 2·arcsin(‖CLIP(image) − CLIP(caption)‖/2)², the spherical distance (released code);
- L_L2    = ‖z_n(W) − z_n(W_init)‖², which pulls the weighted embedding back to where DSO started, so it is 0
  at step 0 (with the ablation "without attentions", W_init = 1 and this is the distance to z itself).

Both image terms are averaged over the augmented views (`Cutouts`; 0 cutouts = the image itself, as in the
released code). W is split in two Adam groups: tokens of nouns (lr 0.01) and all other positions (lr
0.001), the paper's rates; the released code used 0.01 for both. W is per token or, as in the released
code, per token and channel. Every rendering reuses the same starting noise. The image after the last
update is rendered too, which the released code never did.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Literal

import torch
from PIL import Image

from .augment import Cutouts
from .errors import Sound2ImgError, notify
from .sampling import to_pil
from .scoring import AudioImageScorer, ImageTextScorer, audio_image_loss, clip_score, l2_loss, spherical_distance


@dataclass
class DSOConfig:
    """Settings of direct sound optimization; the defaults are the paper's (Sec. 4.4)."""

    steps: int = 10
    lr_noun: float = 0.01
    lr_other: float = 0.001
    lambda_aclip: float = 0.9
    lambda_clip: float = 1.0
    lambda_l2: float = 0.01
    cutouts: int = 8
    grad_steps: int | None = None
    checkpoint: bool = True
    per_channel: bool = False
    keep: Literal["last", "best"] = "last"
    decoder: Literal["vae", "taesd"] = "vae"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise Sound2ImgError(f"The number of DSO steps must be 0 or more, got {self.steps}.")
        if self.grad_steps is not None and self.grad_steps < 1:
            raise Sound2ImgError(f"--grad-steps must be at least 1 (or all), got {self.grad_steps}.")
        if self.cutouts < 0:
            raise Sound2ImgError(f"The number of cutouts must be 0 or more, got {self.cutouts}.")
        if self.keep not in ("last", "best"):
            raise Sound2ImgError(f"keep must be 'last' or 'best', got {self.keep!r}.")
        if self.decoder not in ("vae", "taesd"):
            raise Sound2ImgError(f"The DSO decoder must be 'vae' or 'taesd', got {self.decoder!r}.")


@dataclass
class DSOStep:
    """One rendering during DSO: its image, the loss terms of eq. 6 and the scores."""

    step: int
    loss: float
    audio_image_loss: float
    clip_loss: float
    l2: float
    clip_score: float  # CLIPScore, 2.5·max(cos, 0)
    clip_cosine: float  # the raw cosine behind it
    audio_image_score: float  # AudioCLIP's cosine between the sound and the image
    seconds: float  # rendering, scoring and (except for the final one) backward and update
    image: Image.Image
    weights: torch.Tensor  # the W this image was rendered from

    def record(self) -> dict:
        """The numbers of this step, for the sidecar."""
        return {k: v for k, v in self.__dict__.items() if k not in ("image", "weights")}


@dataclass
class DSOResult:
    steps: list[DSOStep]  # one per update, rendered before it
    final: DSOStep  # the rendering after the last update
    chosen: DSOStep  # the image returned: the final one, or the lowest-loss one
    notes: list[str]


Renderer = Callable[[torch.Tensor, bool], torch.Tensor]


def optimize(
    render: Renderer,
    z: torch.Tensor,
    weights: torch.Tensor,
    noun_tokens: torch.Tensor,
    caption_embedding: torch.Tensor,
    audio_embedding: torch.Tensor,
    image_text: ImageTextScorer,
    audio_image: AudioImageScorer,
    config: DSOConfig,
    embed: Callable[[torch.Tensor], torch.Tensor],
    callback: Callable[[int, int], None] | None = None,
) -> DSOResult:
    """Run DSO from `weights` (W_init, shape [1, T]).

    `embed(W)` gives z_n; `render(W, differentiable)` gives images in [0, 1]; `noun_tokens` is a [1, T]
    boolean mask of the positions in the noun group; `z` (the caption embedding) sizes a per-channel W.
    """
    start = weights.detach().float()
    if config.per_channel:
        start = start.unsqueeze(-1).expand(*start.shape, z.shape[-1]).clone()
    mask = noun_tokens.to(start.device).reshape(*noun_tokens.shape, *([1] * (start.dim() - noun_tokens.dim())))
    w_noun = start.clone().requires_grad_(True)
    w_other = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([{"params": [w_noun], "lr": config.lr_noun}, {"params": [w_other], "lr": config.lr_other}])
    cutouts = Cutouts(config.cutouts)
    with torch.no_grad():
        anchor = embed(start)  # z_n at W_init: where the L2 term pulls back to

    def current() -> torch.Tensor:
        return torch.where(mask, w_noun, w_other)

    def evaluate(step: int, differentiable: bool) -> tuple[torch.Tensor, DSOStep]:
        began = time.perf_counter()
        with torch.set_grad_enabled(differentiable):
            w = current()
            images = render(w, differentiable)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed + step)  # the same views for the same step, run after run
                views = cutouts(images.float())
            image_emb = image_text.image_embedding(views)
            audio_emb = audio_image.image_embedding(views)
            cos_clip = (image_emb * caption_embedding).sum(-1)
            cos_audio = (audio_emb * audio_embedding).sum(-1)
            l_clip = spherical_distance(image_emb, caption_embedding).mean()
            l_audio = audio_image_loss(cos_audio, audio_image.scale()).mean()
            l_l2 = l2_loss(anchor, embed(w))
            loss = config.lambda_aclip * l_audio + config.lambda_clip * l_clip + config.lambda_l2 * l_l2
        record = DSOStep(
            step=step,
            loss=float(loss),
            audio_image_loss=float(l_audio),
            clip_loss=float(l_clip),
            l2=float(l_l2),
            clip_score=float(clip_score(cos_clip).mean()),
            clip_cosine=float(cos_clip.mean()),
            audio_image_score=float(cos_audio.mean()),
            seconds=time.perf_counter() - began,
            image=to_pil(images.detach()),
            weights=w.detach().clone(),
        )
        return loss, record

    notes: list[str] = []
    history: list[DSOStep] = []
    final = None
    diverged = False
    try:
        for step in range(config.steps + 1):
            last = step == config.steps
            loss, record = evaluate(step, differentiable=not last)
            if not math.isfinite(record.loss):
                notify(notes, f"DSO stopped at step {step}: the loss is {record.loss}. The best image so far is kept.")
                diverged = True
                break
            if last:
                final = record
                break
            began = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            record.seconds += time.perf_counter() - began
            history.append(record)
            if callback is not None:
                callback(step + 1, config.steps)
    except torch.OutOfMemoryError as error:
        raise Sound2ImgError(
            "Direct sound optimization ran out of GPU memory. Cheaper settings: fewer --grad-steps (e.g. 5), "
            "a smaller --size, fewer --cutouts, the fast preset (--preset fast), or --dso-steps 0."
        ) from error

    finite = history + ([final] if final is not None else [])
    if not finite:
        raise Sound2ImgError("Direct sound optimization produced no finite loss; try --dso-steps 0.")
    final = final or finite[-1]
    chosen = min(finite, key=lambda r: r.loss) if config.keep == "best" or diverged else final
    return DSOResult(steps=history, final=final, chosen=chosen, notes=notes)
