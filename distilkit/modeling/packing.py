"""Packed (unpadded) execution: the real tokens of a right-padded batch are gathered into one `(N, D)` matrix, so
embeddings, the Q/K/V and output projections, the FFN and every LayerNorm run on real tokens only. Attention is
the one place where tokens of a sequence meet, so there the rows are scattered back into `(B, T, ·)` for one SDPA
call over the batch and gathered again (CTranslate2's "padder" design). When nothing is padded the gather and
scatter are plain reshapes.

Values at real positions equal the padded path's (same kernels, same order of operations); padded positions hold
zeros in every output (hidden states, logits, attention probabilities) instead of the padded path's meaningless
numbers.

Shape letters: B batch, T padded length, N real tokens in the batch (N <= B·T), D width, H heads, Dh head width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError


@dataclass(frozen=True)
class Packing:
    """Where the real tokens of a right-padded (B, T) batch go in the packed (N, ·) layout.

    `index` holds each real token's flat position b·T + t (row-major, so tokens of one sequence stay together and
    in order); `positions` its position id; `key_mask` the boolean (B, 1, 1, T) attention mask, None when no row
    is padded. A batch with lengths [3, 1] and T = 3 has index [0, 1, 2, 3] and positions [0, 1, 2, 0].
    """

    index: torch.Tensor  # (N,)
    positions: torch.Tensor  # (N,)
    batch: int
    length: int
    key_mask: torch.Tensor | None  # (B, 1, 1, T) or None

    @property
    def dense(self) -> bool:
        """No padding anywhere: packing is a reshape."""
        return self.key_mask is None

    @classmethod
    def from_mask(cls, attention_mask: torch.Tensor | None, shape: tuple[int, int],
                  device: torch.device) -> Packing:
        """The packing of a (B, T) keep-mask (1 = real token). Rows must be right-padded: a 0 followed by a 1 in
        a row would move that token's position, so it is refused by the caller (`check_right_padded`)."""
        B, T = shape
        if attention_mask is None or bool(attention_mask.bool().all()):
            positions = torch.arange(T, device=device).repeat(B)  # (B·T,)
            return cls(torch.arange(B * T, device=device), positions, B, T, None)
        keep = attention_mask.bool()  # (B, T)
        index = keep.reshape(-1).nonzero().squeeze(1)  # (N,)
        return cls(index, index % T, B, T, keep[:, None, None, :])

    def pack(self, padded: torch.Tensor) -> torch.Tensor:
        """(B, T, ...) -> (N, ...): the real rows."""
        flat = padded.reshape(self.batch * self.length, *padded.shape[2:])  # (B·T, ...)
        return flat if self.dense else flat.index_select(0, self.index)

    def unpack(self, packed: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, T, ...), zeros at padded positions."""
        if self.dense:
            return packed.reshape(self.batch, self.length, *packed.shape[1:])
        flat = packed.new_zeros(self.batch * self.length, *packed.shape[1:])  # (B·T, ...)
        flat.index_copy_(0, self.index, packed)
        return flat.view(self.batch, self.length, *packed.shape[1:])

    def first_tokens(self, packed: torch.Tensor) -> torch.Tensor:
        """(N, D) -> (B, D): the first token of each sequence (the [CLS] token), without unpacking."""
        if self.dense:
            return packed.view(self.batch, self.length, -1)[:, 0]
        starts = (self.positions == 0).nonzero().squeeze(1)  # (B,)
        return packed.index_select(0, starts)

    def query_mask(self) -> torch.Tensor | None:
        """(B, 1, T, 1) 1.0 at real query positions, for zeroing attention rows of padding; None when dense."""
        if self.key_mask is None:
            return None
        return self.key_mask.transpose(-1, -2)


def check_right_padded(attention_mask: torch.Tensor) -> None:
    """Packed execution assumes each row is one or more real tokens, then padding (what every tokenizer here
    produces with its default right padding)."""
    keep = attention_mask.bool()  # (B, T)
    # a row is right-padded when its mask never rises from 0 to 1
    if keep.size(1) and bool((keep[:, 1:] & ~keep[:, :-1]).any()):
        raise InputError("packed execution needs right-padded rows (real tokens first, then padding); this "
                         "attention_mask has padding before real tokens: pad on the right, or call the model "
                         "with packed=False")
    if keep.size(1) and not bool(keep[:, 0].all()):
        empty = (~keep[:, 0]).nonzero().squeeze(1)[:5].tolist()
        raise InputError(f"rows {empty} of the batch have no real token; packed execution needs at least one "
                         "per row (call the model with packed=False)")
