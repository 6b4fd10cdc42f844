"""Preprocessors for vision and speech models: the ViT image processor, the Wav2Vec2 feature extractor, the
Wav2Vec2 CTC tokenizer, the processor that combines the last two, and their Auto classes.

numpy-first: Pillow (extra `image`) is imported only for PIL images and resizing, soundfile (extra `audio`)
only by `load_audio`. Files and outputs follow the reference's (`preprocessor_config.json`,
`processor_config.json`, `vocab.json`, `tokenizer_config.json`; `pixel_values`, `input_values`, `labels`).
"""

from .audio import Wav2Vec2FeatureExtractor, load_audio
from .auto import AutoFeatureExtractor, AutoImageProcessor, AutoProcessor
from .base import BatchFeature
from .ctc import Wav2Vec2CTCTokenizer, Wav2Vec2CTCTokenizerOutput
from .image import ViTImageProcessor
from .processor import Wav2Vec2Processor

__all__ = [
    "AutoFeatureExtractor",
    "AutoImageProcessor",
    "AutoProcessor",
    "BatchFeature",
    "ViTImageProcessor",
    "Wav2Vec2CTCTokenizer",
    "Wav2Vec2CTCTokenizerOutput",
    "Wav2Vec2FeatureExtractor",
    "Wav2Vec2Processor",
    "load_audio",
]
