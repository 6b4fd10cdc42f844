"""Which embedded default model serves each pipeline task when `pipeline(task)` is called without a model.

`pipeline(task)` calls `resolve` when no model is given, which is what makes
`pipeline("sentiment-analysis")` work offline on a fresh machine: the default is built from packaged assets on
first use (with progress and a message saying it happens once) and loaded from the cache afterwards.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DistilkitError
from . import registry

TASK_DEFAULTS = {
    "text-classification": "sentiment",
    "token-classification": "ner",
    "feature-extraction": "embeddings",
    "fill-mask": "fill-mask",
    # no NLI model can be built from packaged data: zero-shot runs by embedding similarity instead
    "zero-shot-classification": "embeddings",
}


def resolve(task: str) -> Path:
    """The folder of `task`'s default model, built on first use."""
    if task not in TASK_DEFAULTS:
        reason = ("there is no packaged question-answering data to build one from"
                  if task == "question-answering" else "no default model is defined for it")
        raise DistilkitError(f"pipeline({task!r}) needs model=...: {reason}. Pass a model directory or Hub id "
                             "(e.g. a DistilBERT fine-tuned on SQuAD saved with save_pretrained).")
    return registry.ensure(TASK_DEFAULTS[task])
