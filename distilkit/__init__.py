"""distilkit: the DistilBERT family stack, from scratch — config, tokenizers, models, pipelines, training.

Public names are imported lazily (PEP 562), so `import distilkit` is cheap and a command-line call only pays for
the layers it uses.
"""

import importlib

from ._version import __version__ as __version__

_EXPORTS = {
    "errors": ["DistilkitError", "ConfigError", "CheckpointError", "TokenizerError", "InputError", "RemoteError",
               "RemoteAnswerError", "RemoteTimeoutError"],
    "configuration": ["PretrainedConfig", "PreTrainedConfig", "DistilBertConfig"],
    "modeling": [
        "PreTrainedModel", "DistilBertModel", "DistilBertForMaskedLM", "DistilBertForSequenceClassification",
        "DistilBertForTokenClassification", "DistilBertForQuestionAnswering", "DistilBertForMultipleChoice",
        "ModelOutput", "BaseModelOutput", "MaskedLMOutput", "SequenceClassifierOutput", "TokenClassifierOutput",
        "QuestionAnsweringModelOutput", "MultipleChoiceModelOutput",
    ],
    "auto": [
        "AutoConfig", "AutoModel", "AutoModelForMaskedLM", "AutoModelForPreTraining",
        "AutoModelForSequenceClassification", "AutoModelForTokenClassification", "AutoModelForQuestionAnswering",
        "AutoModelForMultipleChoice", "AutoTokenizer",
    ],
    "tokenization": ["DistilBertTokenizer", "DistilBertTokenizerFast", "BatchEncoding"],
    "pipelines": ["pipeline", "register_pipeline", "Pipeline"],
    "training": ["Trainer", "TrainingArguments"],
    # the Keras 3 (TensorFlow) twins: `pip install 'distilkit[tf]'`; TensorFlow is imported on first use
    "tf": [
        "TFAutoModel", "TFAutoModelForMaskedLM", "TFAutoModelForPreTraining", "TFAutoModelForSequenceClassification",
        "TFAutoModelForTokenClassification", "TFAutoModelForQuestionAnswering", "TFAutoModelForMultipleChoice",
        "TFDistilBertModel", "TFDistilBertForMaskedLM", "TFDistilBertForSequenceClassification",
        "TFDistilBertForTokenClassification", "TFDistilBertForQuestionAnswering", "TFDistilBertForMultipleChoice",
        "TFPreTrainedModel",
    ],
    "processors": [
        "ViTImageProcessor", "Wav2Vec2FeatureExtractor", "Wav2Vec2CTCTokenizer", "Wav2Vec2Processor",
        "AutoImageProcessor", "AutoFeatureExtractor", "AutoProcessor",
    ],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


# optional layers reachable as attributes (`distilkit.remote.OpenAICompatible`), imported on first use
_SUBPACKAGES = ("remote",)


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'distilkit' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
