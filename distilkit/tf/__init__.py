"""Keras 3 (TensorFlow backend) twins of the DistilBERT classes, on the same checkpoints: `TFDistilBert*`,
`TFAutoModel*`, their `TF*Output`s and the pipeline adapter.

Nothing here imports TensorFlow or Keras until a name is used (PEP 562), so `import distilkit.tf` is free and,
without the extra, using a class raises `MissingExtraError` naming `pip install 'distilkit[tf]'`.
"""

import importlib

_EXPORTS = {
    "distilbert": [
        "TFDistilBertModel", "TFDistilBertForMaskedLM", "TFDistilBertForSequenceClassification",
        "TFDistilBertForTokenClassification", "TFDistilBertForQuestionAnswering", "TFDistilBertForMultipleChoice",
        "TFDistilBertPreTrainedModel", "TFDistilBertMainLayer",
    ],
    "auto": [
        "TFAutoModel", "TFAutoModelForMaskedLM", "TFAutoModelForPreTraining", "TFAutoModelForSequenceClassification",
        "TFAutoModelForTokenClassification", "TFAutoModelForQuestionAnswering", "TFAutoModelForMultipleChoice",
    ],
    "outputs": [
        "TFBaseModelOutput", "TFMaskedLMOutput", "TFSequenceClassifierOutput", "TFTokenClassifierOutput",
        "TFQuestionAnsweringModelOutput", "TFMultipleChoiceModelOutput",
    ],
    "pretrained": ["TFPreTrainedModel"],
    "pipeline": ["KerasModelAdapter", "is_keras_model"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'distilkit.tf' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
