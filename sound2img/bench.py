"""Benchmark: where the time of one sound-to-image run goes (not a test).

    python -m sound2img.bench --preset tiny --dso-steps 3 --json b.json
    python -m sound2img.bench --arch sd15 --size 128 --steps 4 --dso-steps 1 --json b.json

`--arch sd15` builds the full-size architectures from their configs with random weights (timings do not
depend on weight values, and nothing is downloaded): the SD 1.5 UNet, VAE and CLIP ViT-L/14 text encoder,
Whisper-small, AudioCLIP (CLIP RN50 + ESResNeXt-50), CLIP ViT-B/32 and TAESD. The FLAIR tagger and the
tokenizers stay tiny (their cost is negligible next to the rest).

Reported: wall time per stage and per DSO iteration; UNet forward and backward calls and the time inside
them, measured in the same run; the overhead ratio = pipeline wall time (after loading) ÷ time inside
UNet calls (1.0 would mean that nothing but the UNet costs anything); peak memory.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import torch

from .dso import DSOConfig
from .pipeline import DSOModels, GenerationParams, Sound2Image, default_dtype, place, resolve_device
from .presets import PRESETS

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dog_barking.wav"


class UNetTimer:
    """Counts UNet calls and times them, forward and backward, by wrapping the sampler's UNet call.

    Backward time is the span from the moment the gradient reaches the UNet's output until it has left
    through all of its inputs that need it (the text embeddings, and the latents when earlier steps are
    differentiated too); a forward call inside that span is checkpointing's recomputation and is counted
    as such, not as forward time.
    """

    def __init__(self, sampler):
        self.device = sampler.device
        self.forward_calls = self.backward_calls = self.recomputed_calls = 0
        self.forward_seconds = self.backward_seconds = 0.0
        self._entered: float | None = None
        self._pending = 0
        original = sampler._predict_noise

        def timed(model_input, t, embeds):
            if self._entered is not None:  # checkpointing recomputes (and may stop early): inside backward time
                self.recomputed_calls += 1
                return original(model_input, t, embeds)
            # Nodes of this call only, to see the gradient leave the UNet through each input.
            model_input = model_input.view_as(model_input) if model_input.requires_grad else model_input
            embeds = embeds.view_as(embeds) if embeds.requires_grad else embeds
            inputs = [x for x in (model_input, embeds) if x.requires_grad]
            self.sync()
            began = time.perf_counter()
            out = original(model_input, t, embeds)
            self.sync()
            self.forward_calls += 1
            self.forward_seconds += time.perf_counter() - began
            if out.requires_grad and inputs:
                out.register_hook(lambda grad, n=len(inputs): self._enter(n))
                for x in inputs:
                    x.register_hook(self._leave)
            return out

        sampler._predict_noise = timed

    def sync(self) -> None:
        """Wait for the GPU, so that a clock reading includes the work queued before it."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _enter(self, inputs: int) -> None:
        self.sync()
        self._entered = time.perf_counter()
        self._pending = inputs

    def _leave(self, grad) -> None:
        self._pending -= 1
        if self._pending == 0:
            self.sync()
            self.backward_seconds += time.perf_counter() - self._entered
            self.backward_calls += 1
            self._entered = None

    @property
    def seconds(self) -> float:
        return self.forward_seconds + self.backward_seconds


def build_sd15(device: torch.device, dtype: torch.dtype) -> Sound2Image:
    """Full-size architectures with random weights (see the module docstring)."""
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel
    from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPTextModel, WhisperFeatureExtractor

    from . import tiny
    from .audioclip import AudioCLIP
    from .captioning import WhisperCaptioner
    from .sampling import LatentDiffusionSampler
    from .scoring import AudioClipScorer, ClipScorer

    parts = tiny.build()
    w_tok, c_tok = parts.captioner.tokenizer, parts.tokenizer
    whisper = tiny.whisper_model(w_tok, width=768, layers=12, heads=12, vocab_size=51865)  # Whisper-small
    captioner = WhisperCaptioner(whisper.to(device).eval(), w_tok, WhisperFeatureExtractor(feature_size=80), max_new_tokens=20)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, projection_dim=768,
                       bos_token_id=c_tok.bos_token_id, eos_token_id=c_tok.eos_token_id, pad_token_id=c_tok.pad_token_id)
    )
    unet = UNet2DConditionModel(
        sample_size=64,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=768,
        attention_head_dim=8,
        layers_per_block=2,
    )
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
    )
    models = [text_encoder, unet, vae, AutoencoderTiny()]
    text_encoder, unet, vae, taesd = (place(m, device, dtype).eval().requires_grad_(False) for m in models)
    clip = ClipScorer(CLIPModel(CLIPConfig()).to(device), c_tok)
    audioclip = AudioClipScorer(AudioCLIP().to(device))
    sampler = LatentDiffusionSampler(unet, vae, parts.scheduler_config)
    return Sound2Image(captioner, parts.noun_scorer, c_tok, text_encoder, sampler, PRESETS["default"], DSOModels(clip, audioclip, taesd))


def run(args: argparse.Namespace) -> dict:
    device = resolve_device(args.device)
    dtype = default_dtype(device)
    began = time.perf_counter()
    if args.arch == "sd15":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            pipe = build_sd15(device, dtype)
    else:
        pipe = Sound2Image.from_preset(args.preset, device=device)
    load_seconds = time.perf_counter() - began

    timer = UNetTimer(pipe.sampler)
    decode_calls, decode_seconds = [0], [0.0]
    decode = pipe.sampler.decode

    def timed_decode(*a, **k):
        timer.sync()
        start = time.perf_counter()
        images = decode(*a, **k)
        timer.sync()
        decode_calls[0] += 1
        decode_seconds[0] += time.perf_counter() - start
        return images

    pipe.sampler.decode = timed_decode
    dso = DSOConfig(steps=args.dso_steps, cutouts=args.cutouts, grad_steps=args.grad_steps, decoder=args.dso_decoder)
    params = GenerationParams(size=args.size, steps=args.steps, scheduler=args.sampler, guidance_scale=args.guidance, dso=dso)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    began = time.perf_counter()
    output = pipe(args.audio, params, show_progress=False)
    timer.sync()
    wall = time.perf_counter() - began

    peak = (
        {"peak_gpu_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20}
        if device.type == "cuda"
        else {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    )
    return {
        "machine": {
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
            "cpu_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "dtype": str(dtype).removeprefix("torch."),
        },
        "setup": {"arch": args.arch or f"preset:{args.preset}", "size": args.size, "steps": args.steps, "sampler": args.sampler,
                  "guidance": args.guidance, "dso_steps": args.dso_steps, "grad_steps": args.grad_steps, "cutouts": args.cutouts,
                  "dso_decoder": args.dso_decoder},
        "load_seconds": load_seconds,
        "stages_seconds": {k: v for k, v in output.timings.items() if k != "total"},
        "dso_iteration_seconds": [step["seconds"] for step in output.dso],
        "final_render_seconds": output.dso_final["seconds"] if output.dso_final else None,
        "decode": {"calls": decode_calls[0], "seconds": decode_seconds[0]},
        "unet": {
            "forward_calls": timer.forward_calls,
            "backward_calls": timer.backward_calls,
            "recomputed_forward_calls": timer.recomputed_calls,
            "forward_seconds": timer.forward_seconds,
            "backward_seconds": timer.backward_seconds,
        },
        "pipeline_wall_seconds": wall,
        "overhead_ratio": wall / timer.seconds if timer.seconds else None,
        **peak,
    }


def markdown(report: dict) -> str:
    unet, stages = report["unet"], report["stages_seconds"]
    rows = [
        ("machine", f"{report['machine']['device']} ({report['machine']['cpu_threads']} threads, torch {report['machine']['torch']}, {report['machine']['dtype']})"),
        ("setup", ", ".join(f"{k} {v}" for k, v in report["setup"].items())),
        ("load (build or download + move)", f"{report['load_seconds']:.2f} s"),
        *((f"stage: {name}", f"{seconds:.3f} s") for name, seconds in stages.items()),
        *((f"DSO iteration {i}", f"{s:.3f} s") for i, s in enumerate(report["dso_iteration_seconds"])),
        ("final render (after last update)", "—" if report["final_render_seconds"] is None else f"{report['final_render_seconds']:.3f} s"),
        ("decode", f"{report['decode']['calls']} calls, {report['decode']['seconds']:.3f} s"),
        ("UNet forward", f"{unet['forward_calls']} calls, {unet['forward_seconds']:.3f} s"),
        ("UNet backward", f"{unet['backward_calls']} calls, {unet['backward_seconds']:.3f} s ({unet['recomputed_forward_calls']} recomputed forwards inside)"),
        ("pipeline wall time (after load)", f"{report['pipeline_wall_seconds']:.3f} s"),
        ("**overhead ratio** (wall ÷ time in UNet)", "—" if report["overhead_ratio"] is None else f"**{report['overhead_ratio']:.3f}**"),
        ("peak memory", f"{report['peak_gpu_memory_mb']:.0f} MiB GPU" if "peak_gpu_memory_mb" in report else f"{report['peak_rss_mb']:.0f} MiB RSS"),
    ]
    return "\n".join(["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sound2img.bench", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=sorted(PRESETS), default="tiny", help="models of a preset (default: tiny)")
    source.add_argument("--arch", choices=("sd15",), default=None, help="full-size architectures with random weights")
    parser.add_argument("--audio", default=str(EXAMPLE), help="the sound (default: examples/dog_barking.wav)")
    parser.add_argument("--size", type=int, default=None, help="image size in pixels (default: the preset's)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the preset's)")
    parser.add_argument("--sampler", default=None, help="pndm, ddim, euler or lcm (default: the preset's)")
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the preset's)")
    parser.add_argument("--dso-steps", type=int, default=0, help="DSO steps (default: 0)")
    parser.add_argument("--grad-steps", type=int, default=None, help="backpropagate through the last K steps only")
    parser.add_argument("--cutouts", type=int, default=0, help="augmented views per DSO rendering (default: 0)")
    parser.add_argument("--dso-decoder", choices=("vae", "taesd"), default="vae", help="decoder inside DSO")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--json", default=None, help="write the report as JSON here")
    args = parser.parse_args(argv)
    if args.arch:
        args.size = args.size or 512
        args.steps = args.steps or 40
    report = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
