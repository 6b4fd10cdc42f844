"""fill-mask: the most likely tokens for each mask token of a text, with the text they complete.

Follows the reference (spec section 6.1): a softmax over the vocabulary at each mask position; `top_k`
(default 5) candidates `{score, token, token_str, sequence}`; several masks give one list per mask, each
`sequence` keeping the other masks visible; `targets` restricts the candidates (a target outside the
vocabulary is replaced, with a warning, by its first word piece) and caps `top_k` at their number.
Differences: a list input always gives a list back (the reference unwraps a one-element list), and duplicate
targets keep their first order. The top-k selection runs on the model's device, so only k scores per mask
leave it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from .base import (
    MODEL_INPUTS,
    Params,
    Pipeline,
    check_text,
    check_top_k,
    model_output,
    reject_unknown,
    rows,
    tokenizer_features,
)

logger = logging.getLogger(__name__)
TOKENIZER_OPTIONS = ("truncation", "max_length")


class FillMaskPipeline(Pipeline):
    """Predict the masked tokens of a text.

    >>> unmasker("Paris is the [MASK] of France.", top_k=2)            # doctest: +SKIP
    [{'score': 0.7, 'token': 3007, 'token_str': 'capital', 'sequence': 'paris is the capital of france.'},
     ...]
    """

    task = "fill-mask"
    too_long_hint = "pass tokenizer_kwargs={'truncation': True} to cut it, or shorten it"

    def _sanitize_parameters(
        self,
        top_k: Any = 5,
        targets: Any = None,
        tokenizer_kwargs: Any = None,
        explain: Any = False,
        **unknown: Any,
    ) -> Params:
        reject_unknown(
            self.task, unknown, ("top_k", "targets", "tokenizer_kwargs", "batch_size", "explain")
        )
        from ..explain.hooks import explain_options  # imports nothing above the modeling layer

        options = explain_options(explain)
        tokenizer = self.require_tokenizer()
        if tokenizer.mask_token is None or tokenizer.mask_token_id is None:
            raise InputError(
                "the tokenizer has no mask token, so fill-mask cannot work with it; "
                "add one with tokenizer.add_special_tokens({'mask_token': '[MASK]'})"
            )
        top_k = check_top_k(top_k)
        target_ids = None
        if targets is not None:
            target_ids = self._target_ids(targets)
            top_k = min(top_k, len(target_ids))
        tokenizer_kwargs = dict(tokenizer_kwargs or {})
        reject_unknown(
            f"{self.task} tokenizer_kwargs",
            {key: value for key, value in tokenizer_kwargs.items() if key not in TOKENIZER_OPTIONS},
            TOKENIZER_OPTIONS,
        )
        preprocess = {**tokenizer_kwargs, "return_offsets_mapping": options is not None}
        return preprocess, {"top_k": top_k, "target_ids": target_ids}, {"explain": options}

    def _target_ids(self, targets: Any) -> list[int]:
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, (list, tuple)) or not targets:
            raise InputError(f"targets must be a str or a non-empty list of str, got {targets!r}")
        vocab = self.tokenizer.get_vocab()
        ids: list[int] = []
        for target in targets:
            if not isinstance(target, str):
                raise InputError(f"targets must be strings, got {type(target).__name__}: {target!r}")
            if target in vocab:
                ids.append(vocab[target])
                continue
            pieces = self.tokenizer(target, add_special_tokens=False)["input_ids"]
            if not pieces:
                logger.warning(
                    "target %r is not in the vocabulary and tokenizes to nothing; it is ignored", target
                )
                continue
            logger.warning(
                "target %r is not in the vocabulary; using its first piece %r instead",
                target,
                self.tokenizer.convert_ids_to_tokens(pieces[0]),
            )
            ids.append(pieces[0])
        if not ids:
            raise InputError(f"none of the targets {list(targets)!r} can be found in the vocabulary")
        return list(dict.fromkeys(ids))

    def preprocess(self, items: list[Any], names: list[str], **tokenizer_kwargs: Any) -> list[list[dict]]:
        texts = [check_text(item, name) for item, name in zip(items, names, strict=True)]
        tokenizer = self.tokenizer
        options = self.truncation_options(
            tokenizer_kwargs.get("truncation"), tokenizer_kwargs.get("max_length")
        )
        offsets = tokenizer_kwargs.get("return_offsets_mapping", False)  # only for explain=True
        encoding = tokenizer(texts, **options, return_offsets_mapping=offsets)
        features = tokenizer_features(encoding, (*MODEL_INPUTS, "offset_mapping"))
        mask_id = tokenizer.mask_token_id
        for feature, name in zip(features, names, strict=True):
            if mask_id not in feature["input_ids"]:
                raise InputError(
                    f"{name} has no mask token {tokenizer.mask_token!r}; put it where a word should be "
                    f"predicted, e.g. 'Paris is the {tokenizer.mask_token} of France.'"
                )
        return [[feature] for feature in features]

    def _forward(self, model_inputs: dict, top_k: int = 5, target_ids: list[int] | None = None) -> list[dict]:
        logits = model_output(self.call_model(model_inputs), "logits", 0, self.task)  # (B, T, V)
        input_ids = model_inputs["input_ids"]
        is_mask = input_ids == self.tokenizer.mask_token_id  # (B, T)
        probabilities = logits[is_mask].float().softmax(dim=-1)  # (M, V), masks in row-major order
        if target_ids is not None:
            candidates = torch.tensor(target_ids, device=probabilities.device)
            probabilities = probabilities[:, candidates]
        scores, indices = probabilities.topk(top_k, dim=-1)  # (M, k)
        if target_ids is not None:
            indices = candidates[indices]
        splits = np.cumsum(is_mask.sum(-1).tolist())[:-1]
        per_row = zip(
            rows(input_ids, self.lengths(model_inputs)),
            np.split(scores.cpu().numpy(), splits),
            np.split(indices.cpu().numpy(), splits),
            strict=True,
        )
        return [
            {"input_ids": ids, "scores": row_scores, "tokens": row_tokens}
            for ids, row_scores, row_tokens in per_row
        ]

    def postprocess(self, features: list[dict], outputs: list[dict], explain: dict | None = None) -> list:
        output = outputs[0]
        tokenizer = self.tokenizer
        input_ids = output["input_ids"]
        positions = np.flatnonzero(input_ids == tokenizer.mask_token_id)
        single = len(positions) == 1
        results = []
        for position, scores, tokens in zip(positions, output["scores"], output["tokens"], strict=True):
            candidates = []
            for score, token in zip(scores.tolist(), tokens.tolist(), strict=True):
                filled = input_ids.copy()
                filled[position] = token
                # padding is dropped (a predicted [PAD] too, as in the reference); with one mask the special
                # tokens are dropped for readability, with several they stay, so the other masks show
                filled = filled[filled != tokenizer.pad_token_id]
                sequence = tokenizer.decode(filled.tolist(), skip_special_tokens=single)
                candidates.append(
                    {
                        "score": score,
                        "token": token,
                        "token_str": tokenizer.decode([token]),
                        "sequence": sequence,
                    }
                )
            results.append(candidates)
        if explain is not None:
            from ..explain.hooks import explain_masks

            explain_masks(self, features[0], positions, results, explain)  # adds attributions and delta
        return results[0] if single else results
