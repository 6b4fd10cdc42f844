"""feature-extraction: token embeddings of a text, or one sentence embedding with `pooling`.

Follows the reference (spec section 6.1): the model output's element [0] (`last_hidden_state` for a base
model) as a nested list of shape [1, tokens, dim] per input, or a tensor of that shape with
`return_tensors=True`; `truncation` and `tokenize_kwargs` reach the tokenizer. Additions: `pooling="mean"`
(the mean over the text's tokens, special tokens included, as sentence-transformers does) or `pooling="cls"`
(the first token) gives one vector of length dim per input, and `normalize=True` scales each returned vector
to unit L2 norm.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..errors import InputError
from .base import Params, Pipeline, check_text, model_output, reject_unknown, rows, tokenizer_features

POOLINGS = ("mean", "cls")
TOKENIZER_OPTIONS = ("truncation", "max_length")


class FeatureExtractionPipeline(Pipeline):
    """Embed texts.

    >>> extractor("Hello world")  # [1][tokens][dim] floats                       # doctest: +SKIP
    >>> extractor(["a", "b"], pooling="mean", normalize=True)  # 2 unit vectors   # doctest: +SKIP
    """

    task = "feature-extraction"

    def _sanitize_parameters(
        self,
        truncation: Any = None,
        tokenize_kwargs: Any = None,
        return_tensors: bool = False,
        pooling: Any = None,
        normalize: bool = False,
        **unknown: Any,
    ) -> Params:
        reject_unknown(
            self.task,
            unknown,
            ("truncation", "tokenize_kwargs", "return_tensors", "pooling", "normalize", "batch_size"),
        )
        tokenize_kwargs = dict(tokenize_kwargs or {})
        reject_unknown(
            f"{self.task} tokenize_kwargs",
            {key: value for key, value in tokenize_kwargs.items() if key not in TOKENIZER_OPTIONS},
            TOKENIZER_OPTIONS,
        )
        if truncation is not None:
            if "truncation" in tokenize_kwargs:
                raise InputError(
                    "truncation is given twice: as an option and inside tokenize_kwargs; keep one"
                )
            tokenize_kwargs["truncation"] = truncation
        if pooling is not None and pooling not in POOLINGS:
            raise InputError(f"pooling={pooling!r} is not one of None, {', '.join(map(repr, POOLINGS))}")
        for name, value in (("return_tensors", return_tensors), ("normalize", normalize)):
            if not isinstance(value, bool):
                raise InputError(f"{name} must be True or False, got {value!r}")
        return (
            tokenize_kwargs,
            {"pooling": pooling, "normalize": normalize},
            {"return_tensors": return_tensors},
        )

    def preprocess(self, items: list[Any], names: list[str], **tokenize_kwargs: Any) -> list[list[dict]]:
        texts = [check_text(item, name) for item, name in zip(items, names, strict=True)]
        options = self.truncation_options(
            tokenize_kwargs.get("truncation"), tokenize_kwargs.get("max_length")
        )
        return [[feature] for feature in tokenizer_features(self.require_tokenizer()(texts, **options))]

    def _forward(self, model_inputs: dict, pooling: str | None = None, normalize: bool = False) -> list[dict]:
        hidden = model_output(self.call_model(model_inputs), "last_hidden_state", 0, self.task)  # (B, T, D)
        if pooling == "cls":
            hidden = hidden[:, 0]  # (B, D)
        elif pooling == "mean":
            mask = model_inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            hidden = (hidden * mask).sum(1) / mask.sum(1)  # (B, D)
        if normalize:
            hidden = F.normalize(hidden.float(), dim=-1)
        if pooling is None:
            return [{"features": row} for row in rows(hidden, self.lengths(model_inputs))]
        return [{"features": row} for row in rows(hidden)]

    def postprocess(self, features: list[dict], outputs: list[dict], return_tensors: bool = False) -> Any:
        vectors = outputs[0]["features"]
        if vectors.ndim == 2:  # per-token: the reference's [1, tokens, dim]
            vectors = vectors[None]
        return torch.from_numpy(vectors.copy()) if return_tensors else vectors.tolist()
