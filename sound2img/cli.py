"""Command line: `python -m sound2img generate AUDIO -o OUT.png [options]`."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Sequence

from .errors import Sound2ImgError, Sound2ImgWarning
from .presets import PRESETS
from .sampling import SCHEDULERS
from .weighting import WORD_WEIGHTS, WeightingConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sound2img", description="Generate realistic images from in-the-wild sounds.")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="turn one sound into an image (PNG + JSON sidecar)")
    generate.add_argument("audio", help="audio file: wav, flac, ogg, mp3, m4a/aac, webm, ...")
    generate.add_argument("-o", "--output", required=True, help="output PNG; the sidecar OUT.json is written beside it")
    generate.add_argument("--preset", choices=sorted(PRESETS), default="default", help="model set (default: %(default)s)")
    generate.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cuda if available)")
    generate.add_argument("--gain", type=float, default=1.0, help="amplitude gain, e.g. 2 or 3 as in the paper (default: 1)")
    generate.add_argument("--max-duration", type=float, default=30.0, help="seconds of audio used; longer input is trimmed (default: 30)")
    generate.add_argument("--text", default=None, help="extra text joined to the caption (sound + text fusion)")
    generate.add_argument("--text-weight", type=float, default=1.0, help="weight of the extra text's tokens (default: 1)")
    generate.add_argument("--negative", default="", help="negative prompt for classifier-free guidance (default: empty)")
    generate.add_argument("--seed", type=int, default=0, help="seed of the starting noise (default: 0)")
    generate.add_argument("--steps", type=int, default=None, help="sampler steps (default: the preset's, 40)")
    generate.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the preset's, 7.5)")
    generate.add_argument("--size", type=int, default=None, help="image width and height in pixels (default: the preset's, 512)")
    generate.add_argument("--sampler", choices=sorted(SCHEDULERS), default=None, help="pndm (PLMS, the paper's), ddim or euler")
    generate.add_argument("--weighting", choices=sorted(WORD_WEIGHTS), default="paper", help="W_init variant (default: %(default)s)")
    generate.add_argument("--no-audio-attention", action="store_true", help="ablation: ignore the captioner's probabilities")
    generate.add_argument("--no-sentence-attention", action="store_true", help="ablation: ignore the noun probabilities")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def generate(args: argparse.Namespace) -> int:
    from .pipeline import GenerationParams, Sound2Image

    params = GenerationParams(
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
    )
    pipe = Sound2Image.from_preset(args.preset, device=args.device)
    output = pipe(args.audio, params, show_progress=not args.quiet)
    png, sidecar = output.save(args.output)
    print(f"caption: {output.caption}")
    print(f"wrote {png} and {sidecar}")
    return 0


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
        return generate(args)
    except Sound2ImgError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
