"""Tiny models with random weights, built in-process: the `tiny` preset and the tests run with no network.

The architectures and tokenizer classes are the real ones (Whisper, FLAIR SequenceTagger, CLIP text
encoder, UNet2DConditionModel, AutoencoderKL), only small. The tokenizers are byte-level BPE built from a
short list of sound words, written as vocab/merges files the way the hub repositories ship them.
Weights are random but seeded, so a run of the tiny preset is reproducible; its images mean nothing.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

SOUND_WORDS = """
a an the and of in on with while then as is are by at to from far away close loudly softly quietly
dog dogs bark barks barking cat meows bird birds chirp chirping sing singing tweet horse neighs cow
rain raining falls falling drops thunder storm rumbles rumbling wind blows blowing water splashes
flowing river waves ocean beach stream car cars engine engines starts starting idles idling revving
motor vehicle passes passing truck train steam whistle chugging horn honks siren bell rings ringing
people person man men woman women child children baby cries crying laughs laughing talks talking
speaks speaking crowd applause applauds clapping cheering cheers footsteps walking running door
closes knocks music plays playing guitar piano drum drums gun shot shots machine hum humming noise
background distance loud quiet small large heavy light several many two birds' man's dog-like
""".split()

UPOS_TAGS = "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()

WHISPER_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
]


def _merge_chain(symbols: list[str], vocab: dict[str, int], merges: list[str]) -> None:
    """Add the left-to-right merges that build `symbols` into one token."""
    current = symbols[0]
    for symbol in symbols[1:]:
        merge = f"{current} {symbol}"
        current += symbol
        if merge not in merges:
            merges.append(merge)
        vocab.setdefault(current, len(vocab))


def write_bpe_files(directory: Path, style: str, words: list[str] = SOUND_WORDS) -> tuple[Path, Path]:
    """vocab.json and merges.txt for a small byte-level BPE in GPT-2/Whisper (`"gpt2"`) or CLIP (`"clip"`) style."""
    alphabet = list(bytes_to_unicode().values())
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    merges: list[str] = []
    if style == "clip":
        for symbol in alphabet:
            vocab[symbol + "</w>"] = len(vocab)
        for word in words:
            encoded = _to_byte_symbols(word.lower())
            if len(encoded) > 1:
                _merge_chain(encoded[:-1] + [encoded[-1] + "</w>"], vocab, merges)
        vocab["<|startoftext|>"] = len(vocab)
        vocab["<|endoftext|>"] = len(vocab)
    elif style == "gpt2":
        for word in words:
            for variant in (word, " " + word, word.capitalize(), " " + word.capitalize()):
                _merge_chain(_to_byte_symbols(variant), vocab, merges)
    else:
        raise ValueError(f"unknown BPE style {style!r}")
    vocab_file, merges_file = directory / "vocab.json", directory / "merges.txt"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_file.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return vocab_file, merges_file


def _to_byte_symbols(text: str) -> list[str]:
    """Byte-level BPE symbols: each UTF-8 byte as its printable stand-in character."""
    table = bytes_to_unicode()
    return [table[b] for b in text.encode("utf-8")]


def whisper_tokenizer():
    """A WhisperTokenizer over the sound-word BPE, with Whisper's special tokens."""
    from transformers import WhisperTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, merges_file = write_bpe_files(Path(tmp), "gpt2")
        tokenizer = WhisperTokenizer(str(vocab_file), str(merges_file))
    tokenizer.add_special_tokens({"additional_special_tokens": WHISPER_SPECIAL_TOKENS[1:]})
    return tokenizer


def clip_tokenizer():
    """A fast CLIP tokenizer (character offsets are needed) over the sound-word BPE."""
    from transformers import CLIPTokenizer, CLIPTokenizerFast

    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, merges_file = write_bpe_files(Path(tmp), "clip")
        slow = CLIPTokenizer(str(vocab_file), str(merges_file), pad_token="<|endoftext|>", model_max_length=77)
        slow.save_pretrained(tmp)
        return CLIPTokenizerFast.from_pretrained(tmp)


def flair_tagger(hidden_size: int = 16):
    """A FLAIR SequenceTagger over the universal POS tags with one-hot word embeddings (untrained)."""
    from flair.data import Dictionary
    from flair.embeddings import OneHotEmbeddings
    from flair.models import SequenceTagger

    vocabulary = Dictionary(add_unk=True)
    for word in SOUND_WORDS + list(".,;!?'"):
        vocabulary.add_item(word)
    tags = Dictionary(add_unk=False)
    for tag in UPOS_TAGS:
        tags.add_item(tag)
    flair_log = logging.getLogger("flair")
    level = flair_log.level
    flair_log.setLevel(logging.WARNING)  # FLAIR logs the whole vocabulary at INFO when it builds these
    try:
        embeddings = OneHotEmbeddings(vocabulary, embedding_length=16)
        return SequenceTagger(embeddings, tags, "upos", hidden_size=hidden_size, use_crf=False)
    finally:
        flair_log.setLevel(level)


def whisper_model(tokenizer, *, width: int, layers: int, heads: int, vocab_size: int):
    """A random Whisper of the given size (Whisper-small: 768, 12, 12, 51865) that writes tiny-vocabulary words."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration(
        WhisperConfig(
            vocab_size=vocab_size,
            num_mel_bins=80,
            d_model=width,
            encoder_layers=layers,
            decoder_layers=layers,
            encoder_attention_heads=heads,
            decoder_attention_heads=heads,
            encoder_ffn_dim=4 * width,
            decoder_ffn_dim=4 * width,
            pad_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.convert_tokens_to_ids("<|startoftranscript|>"),
        )
    )
    _speak_in_words(model, tokenizer)
    return model


def _speak_in_words(model, tokenizer) -> None:
    """Keep only whole space-led sound words (and the end token) in the output, so random captions read as words.

    Whisper ties its output projection to the decoder's token embeddings; with the other rows at zero their
    logits are 0, while whole words get larger random logits of either sign and greedy decoding picks them.
    """
    words = {" " + w for w in SOUND_WORDS}
    keep = [i for token, i in tokenizer.get_vocab().items() if tokenizer.convert_tokens_to_string([token]) in words]
    keep.append(tokenizer.eos_token_id)
    mask = torch.zeros(model.config.vocab_size, 1)
    mask[keep] = 4.0
    with torch.no_grad():
        model.get_decoder().embed_tokens.weight.mul_(mask)


def clip_model(tokenizer):
    """A tiny CLIP with both towers, for the image–caption scorer."""
    from transformers import CLIPConfig, CLIPModel

    return CLIPModel(
        CLIPConfig(
            text_config=dict(
                vocab_size=len(tokenizer),
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=1,
                num_attention_heads=2,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
            ),
            vision_config=dict(image_size=224, patch_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2),
            projection_dim=16,
        )
    )


def _vary_and_end(model, tokenizer, *, first: int, length: int) -> None:
    """Make random captions read like captions: a different word at each position, and the end token once
    `length` pieces follow the prompt's `first` positions (instead of running into the length limit).

    Whisper zeroes the end token's embedding (it doubles as padding), so its logit is always 0. Here it gets
    a direction, and the decoder's position embeddings from `first + length` on point strongly along it;
    the earlier ones are widened so that neighbouring positions pick different words.
    """
    decoder = model.get_decoder()
    positions, tokens = decoder.embed_positions.weight, decoder.embed_tokens.weight
    direction = torch.randn(tokens.shape[1])
    direction = (direction - direction.mean()) / (direction - direction.mean()).norm()  # layer norm keeps it
    with torch.no_grad():
        tokens[tokenizer.eos_token_id] = 0.5 * direction
        positions.normal_()
        positions[first + length - 1 :] = 20.0 * direction  # piece k is read off position first + k − 1


@dataclass
class TinyComponents:
    captioner: object
    noun_scorer: object
    tokenizer: object
    text_encoder: object
    unet: object
    vae: object
    taesd: object
    scheduler_config: dict
    image_text_scorer: object
    audio_image_scorer: object


def build(seed: int = 0, style_prefix: str = "clotho > caption: ") -> TinyComponents:
    """Every model of the pipeline, tiny and seeded; the global random state is left untouched."""
    from diffusers import AutoencoderKL, AutoencoderTiny, PNDMScheduler, UNet2DConditionModel
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        WhisperFeatureExtractor,
    )

    from .audioclip import TINY_CONFIG, AudioCLIP
    from .captioning import WhisperCaptioner
    from .scoring import AudioClipScorer, ClipScorer
    from .sentence_attention import FlairNounScorer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        w_tok = whisper_tokenizer()
        whisper = whisper_model(w_tok, width=32, layers=1, heads=2, vocab_size=len(w_tok))
        captioner = WhisperCaptioner(whisper, w_tok, WhisperFeatureExtractor(feature_size=80), style_prefix=style_prefix, max_new_tokens=12)
        _vary_and_end(whisper, w_tok, first=len(captioner.prompt_ids()), length=8)
        noun_scorer = FlairNounScorer(flair_tagger())

        c_tok = clip_tokenizer()
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(c_tok),
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=77,
                bos_token_id=c_tok.bos_token_id,
                eos_token_id=c_tok.eos_token_id,
                pad_token_id=c_tok.pad_token_id,
            )
        )
        unet = UNet2DConditionModel(
            sample_size=8,
            in_channels=4,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(32, 64),
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=8,
            norm_num_groups=32,
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 8, 16, 16),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=8,
            sample_size=64,
        )
        taesd = AutoencoderTiny(
            encoder_block_out_channels=(8, 8, 8, 8),
            decoder_block_out_channels=(8, 8, 8, 8),
            num_encoder_blocks=(1, 1, 1, 1),
            num_decoder_blocks=(1, 1, 1, 1),
            latent_channels=4,
        )
        clip = clip_model(c_tok)
        audioclip = AudioCLIP(TINY_CONFIG)
    scheduler_config = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
    ).config
    for model in (whisper, text_encoder, unet, vae, taesd):
        model.eval().requires_grad_(False)
    return TinyComponents(
        captioner, noun_scorer, c_tok, text_encoder, unet, vae, taesd, scheduler_config, ClipScorer(clip, c_tok), AudioClipScorer(audioclip)
    )


# The 80 COCO classes in the order of the detectors trained on COCO (for the tiny detector's labels).
COCO_LABELS = """person|bicycle|car|motorcycle|airplane|bus|train|truck|boat|traffic light|fire hydrant|stop sign|
parking meter|bench|bird|cat|dog|horse|sheep|cow|elephant|bear|zebra|giraffe|backpack|umbrella|handbag|tie|suitcase|
frisbee|skis|snowboard|sports ball|kite|baseball bat|baseball glove|skateboard|surfboard|tennis racket|bottle|
wine glass|cup|fork|knife|spoon|bowl|banana|apple|sandwich|orange|broccoli|carrot|hot dog|pizza|donut|cake|chair|
couch|potted plant|bed|dining table|toilet|tv|laptop|mouse|remote|keyboard|cell phone|microwave|oven|toaster|sink|
refrigerator|book|clock|vase|scissors|teddy bear|hair drier|toothbrush""".replace("\n", "").split("|")


def detector(threshold: float = 0.5):
    """A tiny RT-DETR with COCO labels and the real image processor (64² input)."""
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessor, RTDetrResNetConfig

    from .metrics import TransformersDetector

    backbone = RTDetrResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage2", "stage3", "stage4"]
    )
    config = RTDetrConfig(
        backbone_config=backbone,
        encoder_in_channels=[16, 32, 64],
        encoder_hidden_dim=16,
        encoder_layers=1,
        encoder_ffn_dim=32,
        encoder_attention_heads=2,
        d_model=16,
        decoder_in_channels=[16, 16, 16],
        decoder_layers=1,
        decoder_ffn_dim=32,
        decoder_attention_heads=2,
        decoder_n_points=2,
        num_queries=10,
        num_denoising=0,
        id2label=dict(enumerate(COCO_LABELS)),
    )
    model = RTDetrForObjectDetection(config)
    return TransformersDetector(model, RTDetrImageProcessor(size={"height": 64, "width": 64}), threshold)


def eval_models(seed: int = 0, threshold: float = 0.5, device: torch.device | str = "cpu"):
    """Tiny scorers for `sound2img eval --preset tiny`: CLIP, the real Inception-v3 graph and RT-DETR, all random."""
    from .inception import InceptionV3
    from .metrics import EvalModels
    from .scoring import ClipScorer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tokenizer = clip_tokenizer()
        image_text = ClipScorer(clip_model(tokenizer).to(device), tokenizer)
        inception = InceptionV3().to(device).eval().requires_grad_(False)
        found = detector(threshold)
    found.model.to(device)
    return EvalModels(image_text, inception, found, {"note": "tiny random-weight scorers built in-process", "detector_threshold": threshold})
