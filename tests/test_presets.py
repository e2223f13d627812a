"""The real loading code: every hub download asks for the preset's pinned revision.

No network here, so each `from_pretrained` is replaced by a recorder that hands back a tiny model of the
same class; the rest of `Sound2Image.from_preset` runs as it would for a user with internet access.
"""

import re

import pytest

from sound2img import GenerationParams, Sound2Image
from sound2img.presets import PRESETS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_hub_model_is_pinned_to_a_full_commit(name):
    preset = PRESETS[name]
    for model in (preset.captioner, preset.tagger, preset.diffusion):
        if preset.in_process:
            assert model is None
        else:
            assert re.fullmatch(r"[0-9a-f]{40}", model.revision), model


@pytest.mark.parametrize("name", ["default", "paper", "fast"])
def test_from_preset_loads_every_component_at_its_pinned_revision(monkeypatch, tiny_parts, example_wav, name):
    import diffusers
    import flair.models
    import huggingface_hub
    import transformers
    from diffusers import AutoencoderKL, AutoencoderTiny, PNDMScheduler, UNet2DConditionModel

    from sound2img import audioclip
    from sound2img.dso import DSOConfig
    from sound2img.presets import CLIP_VIT_B32, TAESD

    calls = []
    captioner = tiny_parts.captioner
    stand_ins = {
        transformers.WhisperForConditionalGeneration: captioner.model,
        transformers.WhisperTokenizer: captioner.tokenizer,
        transformers.WhisperFeatureExtractor: captioner.feature_extractor,
        transformers.CLIPTokenizerFast: tiny_parts.tokenizer,
        transformers.CLIPTextModel: tiny_parts.text_encoder,
        UNet2DConditionModel: tiny_parts.unet,
        AutoencoderKL: tiny_parts.vae,
        PNDMScheduler: PNDMScheduler.from_config(tiny_parts.scheduler_config),
        transformers.CLIPModel: tiny_parts.image_text_scorer.model,
        AutoencoderTiny: tiny_parts.taesd,
    }
    for cls, stand_in in stand_ins.items():

        def fake(cls_, repo_id, *, revision, subfolder=None, _stand_in=stand_in, **kwargs):
            calls.append((cls_.__name__, repo_id, subfolder, revision))
            return _stand_in

        monkeypatch.setattr(cls, "from_pretrained", classmethod(fake))

    def fake_download(repo_id, filename, *, revision):
        calls.append(("hf_hub_download", repo_id, filename, revision))
        return "/nonexistent/pytorch_model.bin"

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(flair.models.SequenceTagger, "load", classmethod(lambda cls_, path: tiny_parts.noun_scorer.tagger))

    def fake_audioclip(cls_, url=audioclip.CHECKPOINT_URL, sha256=audioclip.CHECKPOINT_SHA256):
        calls.append(("AudioCLIP", url, None, sha256))
        return tiny_parts.audio_image_scorer.model

    monkeypatch.setattr(audioclip.AudioCLIP, "from_pretrained", classmethod(fake_audioclip))

    def fake_lora(self, repo_id, *, revision, weight_name):
        calls.append(("load_lora_weights", repo_id, weight_name, revision))

    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "load_lora_weights", fake_lora)
    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "fuse_lora", lambda self: None)
    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "unload_lora_weights", lambda self: None)

    pipe = Sound2Image.from_preset(name, device="cpu")
    preset = PRESETS[name]
    sd, captioning, tagger = preset.diffusion, preset.captioner, preset.tagger
    assert sorted(calls) == sorted(
        [
            ("WhisperForConditionalGeneration", captioning.repo_id, None, captioning.revision),
            ("WhisperTokenizer", captioning.repo_id, None, captioning.revision),
            ("WhisperFeatureExtractor", captioning.repo_id, None, captioning.revision),
            ("hf_hub_download", tagger.repo_id, "pytorch_model.bin", tagger.revision),
            ("CLIPTokenizerFast", sd.repo_id, "tokenizer", sd.revision),
            ("CLIPTextModel", sd.repo_id, "text_encoder", sd.revision),
            ("UNet2DConditionModel", sd.repo_id, "unet", sd.revision),
            ("AutoencoderKL", sd.repo_id, "vae", sd.revision),
            ("PNDMScheduler", sd.repo_id, "scheduler", sd.revision),
        ]
        + ([("load_lora_weights", preset.lora.repo_id, "pytorch_lora_weights.safetensors", preset.lora.revision)] if preset.lora else [])
    )
    # The DSO models are loaded on first use only, at their pinned versions.
    calls.clear()
    output = pipe(example_wav, GenerationParams(size=64, steps=2, dso=DSOConfig(steps=1, cutouts=0)), show_progress=False)
    assert sorted(calls) == sorted(
        [
            ("CLIPModel", CLIP_VIT_B32.repo_id, None, CLIP_VIT_B32.revision),
            ("CLIPTokenizerFast", CLIP_VIT_B32.repo_id, None, CLIP_VIT_B32.revision),
            ("AudioCLIP", audioclip.CHECKPOINT_URL, None, audioclip.CHECKPOINT_SHA256),
            ("AutoencoderTiny", TAESD.repo_id, None, TAESD.revision),
        ]
    )
    assert len(output.dso) == 1 and output.dso_final is not None
    assert output.models["diffusion"] == {"repo_id": sd.repo_id, "revision": sd.revision}
    assert output.params["preset"] == name and output.image.size == (64, 64)


def test_a_failed_download_becomes_a_readable_error(monkeypatch):
    import transformers

    from sound2img import Sound2ImgError

    def offline(cls_, *args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(transformers.WhisperForConditionalGeneration, "from_pretrained", classmethod(offline))
    with pytest.raises(Sound2ImgError, match="preset 'default'.*--preset tiny"):
        Sound2Image.from_preset("default", device="cpu")


def test_a_lora_file_is_fused_into_the_unet(tmp_path):
    """The fast preset's LoRA path, offline: a LoRA saved in diffusers' format is loaded and fused in place."""
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig, get_peft_model_state_dict

    from sound2img import tiny
    from sound2img.pipeline import _fuse_lora
    from sound2img.presets import HubModel

    parts = tiny.build()
    unet = parts.unet
    x, t, text = torch.randn(1, 4, 8, 8), torch.tensor(10), torch.randn(1, 77, 32)
    with torch.no_grad():
        plain = unet(x, t, encoder_hidden_states=text).sample
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    for name, parameter in unet.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.1)  # peft starts B at zero, which would change nothing
    with torch.no_grad():
        with_lora = unet(x, t, encoder_hidden_states=text).sample
    StableDiffusionPipeline.save_lora_weights(tmp_path, unet_lora_layers=get_peft_model_state_dict(unet), weight_name="pytorch_lora_weights.safetensors")
    unet.delete_adapters("default")

    _fuse_lora(HubModel(str(tmp_path), "0" * 40), parts.tokenizer, parts.text_encoder, unet, parts.vae, parts.scheduler_config)
    with torch.no_grad():
        fused = unet(x, t, encoder_hidden_states=text).sample
    assert not torch.allclose(fused, plain, atol=1e-3)
    assert torch.allclose(fused, with_lora, atol=1e-5)
    assert not any("lora" in name for name, _ in unet.named_parameters())
    assert not any(p.requires_grad for p in unet.parameters())
