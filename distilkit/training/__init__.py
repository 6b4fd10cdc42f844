"""Fine-tuning: `Trainer` + `TrainingArguments`, data collators for every head, metrics, exact-resume checkpoints,
and data-parallel training under `torchrun`. `train(...)` fine-tunes a text classifier from a file in one call."""

from .api import read_examples, train
from .arguments import TrainingArguments
from .collators import (
    DataCollatorForLanguageModeling,
    DataCollatorForMultipleChoice,
    DataCollatorForQuestionAnswering,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    align_labels_with_tokens,
    default_data_collator,
    postprocess_question_answering,
    prepare_question_answering_features,
)
from .metrics import (
    accuracy,
    classification_metrics,
    entity_scores,
    get_entities,
    mean_squared_error,
    normalize_answer,
    pearson,
    precision_recall_f1,
    regression_metrics,
    spearman,
    squad_metrics,
)
from .trainer import EvalPrediction, PredictionOutput, Trainer, TrainOutput, set_seed

__all__ = [
    "DataCollatorForLanguageModeling", "DataCollatorForMultipleChoice", "DataCollatorForQuestionAnswering",
    "DataCollatorForTokenClassification", "DataCollatorWithPadding", "EvalPrediction", "PredictionOutput",
    "TrainOutput", "Trainer", "TrainingArguments", "accuracy", "align_labels_with_tokens", "classification_metrics",
    "default_data_collator", "entity_scores", "get_entities", "mean_squared_error", "normalize_answer", "pearson",
    "postprocess_question_answering", "precision_recall_f1", "prepare_question_answering_features", "read_examples",
    "regression_metrics", "set_seed", "spearman", "squad_metrics", "train",
]
