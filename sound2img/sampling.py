"""Stable Diffusion 1.x sampling from prompt embeddings, with our own denoising loop.

diffusers' `StableDiffusionPipeline.__call__` runs under `no_grad`; this loop does not, so direct sound
optimization can differentiate through it. It takes z_n as `prompt_embeds`, applies classifier-free
guidance against an empty or negative prompt, and starts from seeded noise drawn on the CPU, so a seed
gives the same start on any device.
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np
import torch
import torch.utils.checkpoint
from diffusers import DDIMScheduler, EulerDiscreteScheduler, LCMScheduler, PNDMScheduler
from PIL import Image
from tqdm.auto import tqdm

from .errors import Sound2ImgError

# PNDM with skip_prk_steps is PLMS, the sampler of the paper and of the released code; LCM is for the
# few-step LCM-LoRA of the fast preset.
SCHEDULERS = {"pndm": PNDMScheduler, "ddim": DDIMScheduler, "euler": EulerDiscreteScheduler, "lcm": LCMScheduler}


def check_scheduler(name: str) -> None:
    if name not in SCHEDULERS:
        raise Sound2ImgError(f"Unknown sampler {name!r}; choose one of {', '.join(SCHEDULERS)}.")


def make_scheduler(name: str, config):
    """A fresh scheduler of the named kind from a model's scheduler config (schedulers keep per-run state)."""
    check_scheduler(name)
    # PLMS is PNDM without its Runge-Kutta warm-up; DDIM must not clip latents to [-1, 1] (its default),
    # which a PNDM config of Stable Diffusion does not switch off.
    extra = {"pndm": {"skip_prk_steps": True}, "ddim": {"clip_sample": False}}.get(name, {})
    return SCHEDULERS[name].from_config(config, **extra)


class LatentDiffusionSampler:
    """The UNet, the VAE and the scheduler config of a Stable Diffusion 1.x model."""

    def __init__(self, unet, vae, scheduler_config):
        self.unet = unet
        self.vae = vae
        self.scheduler_config = scheduler_config
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)

    @property
    def device(self) -> torch.device:
        return self.unet.device

    def initial_latents(self, seed: int, height: int, width: int) -> torch.Tensor:
        """Seeded starting noise, drawn on the CPU for the same result on every device."""
        factor = self.vae_scale_factor
        if height % factor or width % factor or height <= 0 or width <= 0:
            raise Sound2ImgError(f"The image size must be a positive multiple of {factor} pixels, got {width}×{height}.")
        shape = (1, self.unet.config.in_channels, height // factor, width // factor)
        generator = torch.Generator("cpu").manual_seed(seed)
        return torch.randn(shape, generator=generator).to(self.device, self.unet.dtype)

    def denoise(
        self,
        latents: torch.Tensor,
        prompt_embeds: torch.Tensor,
        negative_embeds: torch.Tensor,
        *,
        scheduler: str = "pndm",
        steps: int = 40,
        guidance_scale: float = 7.5,
        callback: Callable[[int, int], None] | None = None,
        show_progress: bool = True,
        grad_steps: int | None = None,
        checkpoint: bool = False,
        noise_seed: int = 0,
    ) -> torch.Tensor:
        """Run the sampler from `latents`; differentiable whenever autograd is enabled by the caller.

        With autograd on, `grad_steps = K` records the graph only for the last K UNet calls (None: all of
        them), and `checkpoint` recomputes each UNet call in the backward pass instead of storing its
        activations: the same gradient for much less memory. Samplers that add fresh noise between steps
        (LCM) draw it from `noise_seed`, so every rendering of a DSO run sees the same noise.
        """
        if steps < 1:
            raise Sound2ImgError(f"The number of sampler steps must be at least 1, got {steps}.")
        sampler = make_scheduler(scheduler, self.scheduler_config)
        sampler.set_timesteps(steps, device=self.device)
        guided = guidance_scale > 1.0
        embeds = torch.cat([negative_embeds, prompt_embeds]) if guided else prompt_embeds
        embeds = embeds.to(self.device, self.unet.dtype)
        latents = latents * sampler.init_noise_sigma
        timesteps = sampler.timesteps
        step_options = {}
        if "generator" in inspect.signature(sampler.step).parameters:
            step_options["generator"] = torch.Generator("cpu").manual_seed(noise_seed)
        differentiable = torch.is_grad_enabled()
        first_tracked = 0 if grad_steps is None else max(len(timesteps) - grad_steps, 0)
        for i, t in enumerate(tqdm(timesteps, desc="sampling", disable=not show_progress, leave=False)):
            tracked = differentiable and i >= first_tracked
            with torch.set_grad_enabled(tracked):
                model_input = torch.cat([latents] * 2) if guided else latents
                model_input = sampler.scale_model_input(model_input, t)
                if tracked and checkpoint:
                    noise = torch.utils.checkpoint.checkpoint(self._predict_noise, model_input, t, embeds, use_reentrant=False)
                else:
                    noise = self._predict_noise(model_input, t, embeds)
                if guided:
                    noise_uncond, noise_text = noise.chunk(2)
                    noise = noise_uncond + guidance_scale * (noise_text - noise_uncond)
                latents = sampler.step(noise, t, latents, **step_options).prev_sample
            if callback is not None:
                callback(i + 1, len(timesteps))
        return latents

    def _predict_noise(self, model_input: torch.Tensor, t: torch.Tensor, embeds: torch.Tensor) -> torch.Tensor:
        return self.unet(model_input, t, encoder_hidden_states=embeds).sample

    def decode(self, latents: torch.Tensor, decoder=None) -> torch.Tensor:
        """Latents to images in [0, 1], shape (batch, 3, height, width), with the VAE or another `decoder`
        of the same interface (the tiny autoencoder TAESD)."""
        decoder = decoder or self.vae
        images = decoder.decode(latents.to(decoder.dtype) / decoder.config.scaling_factor).sample
        return (images.float() / 2 + 0.5).clamp(0, 1)


def to_pil(images: torch.Tensor) -> Image.Image:
    """The first image of a batch in [0, 1] as an 8-bit PIL image."""
    array = images[0].detach().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.round(array * 255).astype(np.uint8))
