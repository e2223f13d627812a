"""sound2img: the Gradio app (a Hugging Face Space). UI and event wiring only; the work is in `sound2img`.

    python app.py                          # local
    python app.py --share                  # with a temporary public link (or SOUND2IMG_SHARE=1)
    SOUND2IMG_PRESET=tiny python app.py    # offline demo with tiny random models
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import gradio as gr
import spaces

from sound2img import Sound2ImgError, web
from sound2img.presets import get_preset

EXAMPLES = Path(__file__).parent / "examples"
OFFLINE = os.environ.get("SOUND2IMG_PRESET") == "tiny"
PRESETS = ["tiny"] if OFFLINE else ["fast", "default", "paper"]
START = get_preset(PRESETS[0])  # on a Space the fast preset: the quickest way to an optimized image
web.pipeline(START.name)  # load the models once, at start-up


def _duration(audio, preset, gain, text, text_weight, negative, seed, randomize, steps, guidance, size,
              audio_attention, sentence_attention, weighting, dso_on, dso_steps, *rest, **options):
    """GPU seconds to ask a Space for, from the same arguments as `generate`."""
    return web.gpu_seconds(steps, dso_steps, size, dso_on)


@spaces.GPU(duration=_duration)
def generate(audio, preset, gain, text, text_weight, negative, seed, randomize, steps, guidance, size,
             audio_attention, sentence_attention, weighting, dso_on, dso_steps, lr_noun, lr_other,
             lambda_aclip, lambda_clip, lambda_l2, cutouts, grad_steps, progress=gr.Progress()):
    """Audio and every control → image, caption highlighted by weight, word table, DSO gallery and plot, run JSON."""
    if not audio:
        raise gr.Error("Upload or record a sound first.")
    try:
        params = web.params_from_controls(
            preset, gain, text, text_weight, negative, seed, randomize, steps, guidance, size, audio_attention,
            sentence_attention, weighting, dso_on, dso_steps, lr_noun, lr_other, lambda_aclip, lambda_clip, lambda_l2,
            cutouts, grad_steps,
        )
        progress(0, desc="loading models and captioning")
        pipe = web.pipeline(preset)
        output = web.run(pipe, audio, params, lambda stage, step, total: progress((step, total), desc=stage))
    except Sound2ImgError as error:
        raise gr.Error(str(error)) from error
    path, data = web.save_run(output)
    highlighted = web.highlighted_words(output.prompt, output.words, output.weights_after)
    for warning in output.warnings:
        gr.Warning(warning)
    return (
        output.image, highlighted, web.word_table(output.words, output.weights_after), web.gallery(output),
        web.loss_curves(output), str(path), data, params.seed,
    )


def generate_example(audio):
    """An example clip with the start-up preset's defaults (what a first-time user gets by clicking Generate)."""
    steps, guidance, size, dso_on, dso_steps, cutouts, grad_steps = web.preset_defaults(START.name)
    return generate(audio, START.name, 1.0, "", 1.0, "", 0, False, steps, guidance, size, True, True, "paper", dso_on,
                    dso_steps, START.dso.lr_noun, START.dso.lr_other, START.dso.lambda_aclip, START.dso.lambda_clip,
                    START.dso.lambda_l2, cutouts, grad_steps)


def caption(audio, gain, audio_attention, sentence_attention, weighting):
    """Audio → caption with per-word attentions and W_init; cheap, no diffusion."""
    if not audio:
        raise gr.Error("Upload or record a sound first.")
    try:
        params = web.caption_params(gain, audio_attention, sentence_attention, weighting)
        analysis = web.pipeline(START.name).analyze(audio, params)
    except Sound2ImgError as error:
        raise gr.Error(str(error)) from error
    return web.highlighted_words(analysis.prompt, analysis.words), web.word_table(analysis.words), web.caption_summary(analysis)


with gr.Blocks(title="sound2img: images from in-the-wild sounds") as demo:
    gr.Markdown(
        "# sound2img\nDrop in a sound — rain, a dog, an engine, a crowd — and get an image of what you hear, with the "
        "reasoning: the caption, how sure the captioner was of each word (audio attention), how likely each word "
        "is a noun (sentence attention), and how direct sound optimization changed the weights. "
        "Method: Lee et al., *Generating Realistic Images from In-the-wild Sounds*, ICCV 2023."
        + ("\n\n**Offline demo**: tiny random models — every stage runs, the images mean nothing." if OFFLINE else "")
    )
    with gr.Row():
        with gr.Column():
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Sound")
            gain = gr.Slider(0.25, 4.0, value=1.0, step=0.25, label="Amplitude gain (the paper tries ×2 and ×3)")
            with gr.Row():
                generate_button = gr.Button("Generate", variant="primary")
                caption_button = gr.Button("Caption only")
            with gr.Accordion("Text, seed and sampler", open=False):
                text = gr.Textbox(label="Extra text joined to the caption (sound + text fusion)")
                text_weight = gr.Slider(0.0, 3.0, value=1.0, step=0.1, label="Weight of the extra text")
                negative = gr.Textbox(label="Negative prompt")
                with gr.Row():
                    seed = gr.Number(value=0, precision=0, minimum=0, maximum=web.MAX_SEED, label="Seed")
                    randomize = gr.Checkbox(value=False, label="Random seed")
                preset = gr.Dropdown(PRESETS, value=START.name, label="Preset")
                steps = gr.Slider(1, 100, value=START.steps, step=1, label="Sampler steps")
                guidance = gr.Slider(0.0, 15.0, value=START.guidance_scale, step=0.5, label="Guidance scale")
                size = gr.Slider(64, 768, value=START.size, step=64, label="Image size (pixels)")
            with gr.Accordion("Attentions (ablations)", open=False):
                audio_attention = gr.Checkbox(value=True, label="Use audio attention")
                sentence_attention = gr.Checkbox(value=True, label="Use sentence attention")
                weighting = gr.Radio(["paper", "official"], value="paper", label="W_init: the paper's equations or the released code's")
            with gr.Accordion("Direct sound optimization", open=False):
                dso_on = gr.Checkbox(value=START.dso.steps > 0, label="Optimize W with CLIP and AudioCLIP")
                dso_steps = gr.Slider(1, 20, value=START.dso.steps or 3, step=1, label="DSO steps")
                lr_noun = gr.Number(value=START.dso.lr_noun, label="Learning rate, nouns")
                lr_other = gr.Number(value=START.dso.lr_other, label="Learning rate, other tokens")
                lambda_aclip = gr.Number(value=START.dso.lambda_aclip, label="λ AudioCLIP")
                lambda_clip = gr.Number(value=START.dso.lambda_clip, label="λ CLIP")
                lambda_l2 = gr.Number(value=START.dso.lambda_l2, label="λ L2")
                cutouts = gr.Slider(0, 32, value=START.dso.cutouts, step=1, label="Cutouts (0 = none, as the released code)")
                grad_steps = gr.Slider(0, 100, value=START.dso.grad_steps or 0, step=1, label="Backpropagate through the last K steps (0 = all)")
        with gr.Column():
            image = gr.Image(label="Image", type="pil", format="png")
            highlighted = gr.HighlightedText(label="Caption, coloured by each word's weight (W − 1)", show_legend=False)
            table = gr.Dataframe(headers=web.TABLE_HEADERS, label="Words", interactive=False)
            with gr.Accordion("Direct sound optimization, step by step", open=False):
                steps_gallery = gr.Gallery(label="Image at each DSO step", columns=4, height="auto")
                curves = gr.LinePlot(x="step", y="value", color="term", label="Loss terms and scores")
            run_file = gr.File(label="Everything to reproduce this run (JSON)")
            run_json = gr.JSON(label="Run details", visible=False)
            caption_json = gr.JSON(label="Caption details", visible=False)
            gr.DeepLinkButton()

    controls = [audio, preset, gain, text, text_weight, negative, seed, randomize, steps, guidance, size, audio_attention,
                sentence_attention, weighting, dso_on, dso_steps, lr_noun, lr_other, lambda_aclip, lambda_clip, lambda_l2,
                cutouts, grad_steps]
    generate_button.click(generate, controls, [image, highlighted, table, steps_gallery, curves, run_file, run_json, seed],
                          api_name="generate")
    caption_button.click(caption, [audio, gain, audio_attention, sentence_attention, weighting], [highlighted, table, caption_json],
                         api_name="caption")
    preset.change(web.preset_defaults, preset, [steps, guidance, size, dso_on, dso_steps, cutouts, grad_steps],
                  api_visibility="private")
    recordings = {
        "dog_barking.wav": "a dog barking",
        "rain_in_garden.wav": "rain in a garden",
        "thunder.wav": "a thunderclap",
        "car_engine_start.wav": "a car engine starting",
        "crowd_applause.wav": "a crowd applauding",
        "birds_chirping.wav": "birds chirping",
        "steam_train.wav": "a steam train",
        "horse_neigh.wav": "a horse neighing",
    }
    gr.Examples(
        [[str(EXAMPLES / name)] for name in recordings],
        inputs=[audio],
        outputs=[image, highlighted, table, steps_gallery, curves, run_file, run_json, seed],
        fn=generate_example,
        cache_examples=True,
        cache_mode="lazy",
        api_visibility="private",
        example_labels=list(recordings.values()),
        label="Real recordings (licences in examples/SOURCES.md)",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the sound2img app.")
    parser.add_argument("--share", action="store_true", default=os.environ.get("SOUND2IMG_SHARE") == "1", help="temporary public link")
    parser.add_argument("--port", type=int, default=None, help="port (default: Gradio's)")
    args = parser.parse_args()
    demo.queue(default_concurrency_limit=1).launch(
        share=args.share, server_port=args.port, max_file_size="50mb", mcp_server=True
    )
