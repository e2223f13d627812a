"""Command line: `python -m sound2img generate|batch|eval ...` (see `--help` of each)."""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import torch
from tqdm.auto import tqdm

from .dso import DSOConfig
from .errors import Sound2ImgError, Sound2ImgWarning
from .evaluation import ABLATIONS
from .presets import PRESETS, get_preset
from .sampling import SCHEDULERS
from .weighting import WORD_WEIGHTS, WeightingConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sound2img", description="Generate realistic images from in-the-wild sounds.")
    commands = parser.add_subparsers(dest="command", required=True)
    options = generation_options()

    generate = commands.add_parser("generate", parents=[options], help="turn one sound into an image (PNG + JSON sidecar)")
    generate.add_argument("audio", help="audio file: wav, flac, ogg, mp3, m4a/aac, webm, ...")
    generate.add_argument("-o", "--output", required=True, help="output PNG; the sidecar OUT.json is written beside it")

    batch = commands.add_parser(
        "batch",
        parents=[options],
        help="every audio file of a folder to an image + sidecar; resumable; data-parallel with `accelerate launch`",
    )
    batch.add_argument("input_dir", help="folder searched recursively for audio files")
    batch.add_argument("output_dir", help="images and sidecars, in the input's folder layout")

    evaluate = commands.add_parser(
        "eval",
        parents=[options],
        help="the paper's Tables 1 and 3 on a local dataset copy: images, results.jsonl, metrics.json, table.md",
    )
    evaluate.add_argument("--dataset", required=True, choices=("audiocaps", "clotho", "urbansound8k", "multi-esc50"))
    evaluate.add_argument("--root", required=True, help="the dataset's folder, as published (layouts: sound2img/datasets.py)")
    evaluate.add_argument("--out", required=True, help="output folder; a rerun reuses the images already there")
    evaluate.add_argument("--limit", type=int, default=None, help="use N clips, spread evenly over the dataset (default: all)")
    evaluate.add_argument(
        "--config", nargs="+", default=["full"], choices=[*ABLATIONS, "all"], metavar="NAME",
        help=f"rows of Table 3: {', '.join(ABLATIONS)}, or all (default: full)",
    )
    evaluate.add_argument("--detector-threshold", type=float, default=0.5, help="object score: detection confidence (default: 0.5)")
    evaluate.add_argument(
        "--render-only", action="store_true",
        help="only render this process's share (with `accelerate launch`, every process takes one); score later without it",
    )
    return parser


def generation_options() -> argparse.ArgumentParser:
    """The options shared by `generate` and `batch`."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--preset", choices=sorted(PRESETS), default="default", help="model set (default: %(default)s)")
    options.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cuda if available)")
    options.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="image-model precision (default: bfloat16/float16 on GPU, float32 on CPU)")
    options.add_argument("--gain", type=float, default=1.0, help="amplitude gain, e.g. 2 or 3 as in the paper (default: 1)")
    options.add_argument("--max-duration", type=float, default=30.0, help="seconds of audio used; longer input is trimmed (default: 30)")
    options.add_argument("--text", default=None, help="extra text joined to the caption (sound + text fusion)")
    options.add_argument("--text-weight", type=float, default=1.0, help="weight of the extra text's tokens (default: 1)")
    options.add_argument("--negative", default="", help="negative prompt for classifier-free guidance (default: empty)")
    options.add_argument("--seed", type=int, default=0, help="seed of the starting noise (default: 0)")
    options.add_argument("--steps", type=int, default=None, help="sampler steps (default: the preset's, 40)")
    options.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the preset's, 7.5)")
    options.add_argument("--size", type=int, default=None, help="image width and height in pixels (default: the preset's, 512)")
    options.add_argument("--sampler", choices=sorted(SCHEDULERS), default=None, help="pndm (PLMS, the paper's), ddim, euler or lcm")
    options.add_argument("--weighting", choices=sorted(WORD_WEIGHTS), default="paper", help="W_init variant (default: %(default)s)")
    options.add_argument("--no-audio-attention", action="store_true", help="ablation: ignore the captioner's probabilities")
    options.add_argument("--no-sentence-attention", action="store_true", help="ablation: ignore the noun probabilities")
    dso = options.add_argument_group("direct sound optimization (DSO); unset options take the preset's values")
    dso.add_argument("--dso-steps", type=int, default=None, help="Adam steps on W; 0 = off (paper: 10; tiny preset: 0)")
    dso.add_argument("--lr-noun", type=float, default=None, help="learning rate of noun tokens (paper: 0.01)")
    dso.add_argument("--lr-other", type=float, default=None, help="learning rate of the other tokens (paper: 0.001)")
    dso.add_argument("--lambda-aclip", type=float, default=None, help="weight of the AudioCLIP term (paper: 0.9)")
    dso.add_argument("--lambda-clip", type=float, default=None, help="weight of the CLIP term (paper: 1.0)")
    dso.add_argument("--lambda-l2", type=float, default=None, help="weight of the L2 term (paper: 0.01)")
    dso.add_argument("--cutouts", type=int, default=None, help="augmented views per image; 0 = none, as the released code")
    dso.add_argument("--grad-steps", type=int, default=None, help="backpropagate through the last K sampler steps only")
    dso.add_argument("--dso-decoder", choices=("vae", "taesd"), default=None, help="decoder inside DSO (the final image always uses the VAE)")
    dso.add_argument("--per-channel", action="store_true", default=None, help="W per token and channel, as the released code")
    dso.add_argument("--keep", choices=("last", "best"), default=None, help="return the image after the last update or the lowest-loss one")
    options.add_argument("--quiet", action="store_true", help="no progress bar")
    return options


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

_DSO_OPTIONS = {
    "dso_steps": "steps",
    "lr_noun": "lr_noun",
    "lr_other": "lr_other",
    "lambda_aclip": "lambda_aclip",
    "lambda_clip": "lambda_clip",
    "lambda_l2": "lambda_l2",
    "cutouts": "cutouts",
    "grad_steps": "grad_steps",
    "dso_decoder": "decoder",
    "per_channel": "per_channel",
    "keep": "keep",
}


def dso_config(args: argparse.Namespace) -> DSOConfig:
    """The preset's DSO settings with the options given on the command line."""
    given = {field: getattr(args, option) for option, field in _DSO_OPTIONS.items() if getattr(args, option) is not None}
    return replace(get_preset(args.preset).dso, seed=args.seed, **given)


def params_from_args(args: argparse.Namespace):
    from .pipeline import GenerationParams

    return GenerationParams(
        gain=args.gain,
        text=args.text,
        text_weight=args.text_weight,
        negative_prompt=args.negative,
        seed=args.seed,
        steps=args.steps,
        guidance_scale=args.guidance,
        size=args.size,
        scheduler=args.sampler,
        max_duration=args.max_duration,
        weighting=WeightingConfig(
            variant=args.weighting,
            audio_attention=not args.no_audio_attention,
            sentence_attention=not args.no_sentence_attention,
        ),
        dso=dso_config(args),
    )


def generate(args: argparse.Namespace) -> int:
    from .pipeline import Sound2Image

    params = params_from_args(args)
    pipe = Sound2Image.from_preset(args.preset, device=args.device, torch_dtype=DTYPES.get(args.dtype))
    with tqdm(total=params.dso.steps, desc="DSO", disable=args.quiet or params.dso.steps == 0, leave=False) as bar:
        output = pipe(args.audio, params, show_progress=not args.quiet, dso_callback=lambda step, total: bar.update(1))
    png, sidecar = output.save(args.output)
    print(f"caption: {output.caption}")
    if output.dso_final is not None:
        first, final = output.dso[0], output.dso_final
        print(f"DSO: loss {first['loss']:.4f} → {final['loss']:.4f}, CLIPScore {first['clip_score']:.4f} → {final['clip_score']:.4f}")
    print(f"wrote {png} and {sidecar}")
    return 0


def batch(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from .batch import run_batch
    from .pipeline import Sound2Image

    state = PartialState()  # one process, or this process's place among those `accelerate launch` started
    device = args.device or state.device
    pipe = Sound2Image.from_preset(args.preset, device=device, torch_dtype=DTYPES.get(args.dtype))
    summary = run_batch(
        pipe, args.input_dir, args.output_dir, params_from_args(args), rank=state.process_index, world=state.num_processes,
        show_progress=not args.quiet,
    )
    print(summary.report())
    return 0 if not summary.failed else 1


def evaluate(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from .datasets import read
    from .evaluation import evaluate as run_eval
    from .evaluation import has_objects, render, select_clips
    from .metrics import EvalModels
    from .pipeline import Sound2Image

    if args.no_audio_attention or args.no_sentence_attention or args.dso_steps == 0:
        raise Sound2ImgError("eval sets the attentions and DSO per configuration: choose them with --config (e.g. wo-a-attn, wo-opt).")
    if args.limit is not None and args.limit < 1:
        raise Sound2ImgError(f"--limit must be at least 1, got {args.limit}.")
    if not 0.0 <= args.detector_threshold <= 1.0:
        raise Sound2ImgError(f"--detector-threshold is a confidence between 0 and 1, got {args.detector_threshold}.")
    state = PartialState()  # one process, or this process's place among those `accelerate launch` started
    if state.num_processes > 1 and not args.render_only:
        raise Sound2ImgError("Several processes render with --render-only; then one process (no launcher, same options) scores.")
    configs = list(ABLATIONS.values()) if "all" in args.config else [ABLATIONS[name] for name in dict.fromkeys(args.config)]
    extra = {"out_dir": Path(args.out) / "multi-esc50-audio", "write": False} if args.dataset == "multi-esc50" else {}
    dataset = read(args.dataset, args.root, **extra)
    clips = select_clips(dataset, args.limit)
    if dataset.missing and state.is_main_process:
        print(f"{len(dataset.missing)} clips listed without audio, skipped (first: {', '.join(dataset.missing[:3])}); see metrics.json")
    pipe = Sound2Image.from_preset(args.preset, device=args.device or state.device, torch_dtype=DTYPES.get(args.dtype))
    params = params_from_args(args)
    if args.render_only:
        errors = render(pipe, clips, configs, params, args.out, rank=state.process_index, world=state.num_processes, show_progress=not args.quiet)
        print("\n".join([f"process {state.process_index + 1}/{state.num_processes}: its share is rendered, {len(errors)} failed"]
                        + [f"  failed: {config} {clip}: {message}" for (config, clip), message in errors.items()]))
        return 0 if not errors else 1
    needs = {"captions": any(clip.captions for clip in clips), "objects": any(map(has_objects, clips))}
    models = EvalModels.load(args.preset, device=pipe.sampler.device, threshold=args.detector_threshold, **needs)
    report = run_eval(pipe, models, dataset, configs, params, args.out, limit=args.limit, show_progress=not args.quiet)
    print(report.table())
    print(f"wrote {Path(args.out) / 'table.md'}, metrics.json and results.jsonl ({report.failed} clips failed)")
    return 0 if not report.failed else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.simplefilter("always", Sound2ImgWarning)
    _show_library_warning = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, Sound2ImgWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            _show_library_warning(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        return {"generate": generate, "batch": batch, "eval": evaluate}[args.command](args)
    except Sound2ImgError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
