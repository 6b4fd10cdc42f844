"""Models: typed outputs, the PreTrainedModel base (init, tying, save/load) and the DistilBERT family."""

from .distilbert import (
    DistilBertForMaskedLM,
    DistilBertForMultipleChoice,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
    DistilBertPreTrainedModel,
)
from .outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    ModelOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from .pretrained import PreTrainedModel

__all__ = [
    "BaseModelOutput", "DistilBertForMaskedLM", "DistilBertForMultipleChoice", "DistilBertForQuestionAnswering",
    "DistilBertForSequenceClassification", "DistilBertForTokenClassification", "DistilBertModel",
    "DistilBertPreTrainedModel", "MaskedLMOutput", "ModelOutput", "MultipleChoiceModelOutput", "PreTrainedModel",
    "QuestionAnsweringModelOutput", "SequenceClassifierOutput", "TokenClassifierOutput",
]
