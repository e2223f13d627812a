"""sound2img: realistic images from in-the-wild sounds (Lee et al., ICCV 2023), as a library, a CLI and an app."""

__version__ = "0.1.0"

from .audio import Audio, load_audio, prepare_audio
from .errors import Sound2ImgError, Sound2ImgWarning
from .pipeline import CaptionAnalysis, GenerationParams, Sound2Image, Sound2ImageOutput
from .presets import PRESETS, Preset
from .weighting import WeightingConfig

__all__ = [
    "Audio",
    "CaptionAnalysis",
    "GenerationParams",
    "PRESETS",
    "Preset",
    "Sound2Image",
    "Sound2ImageOutput",
    "Sound2ImgError",
    "Sound2ImgWarning",
    "WeightingConfig",
    "__version__",
    "load_audio",
    "prepare_audio",
]
