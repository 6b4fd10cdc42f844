"""DistilBERT, the whole forward pass in one file, bottom-up: embeddings -> attention -> FFN -> block -> encoder,
then the five task heads.

Numerics follow the reference exactly (post-LN blocks, LayerNorm eps 1e-12, exact-erf GELU, additive -inf-like mask
in eager attention, boolean mask under SDPA, no mask at all when nothing is padded). Parameter names equal the
checkpoint keys, so loading is a strict key match. One deliberate difference: `output_attentions=True` returns the
real attention probabilities under SDPA too (that call runs the eager path), where the reference returns an empty tuple.

`packed=True` runs the same modules on the real tokens only (`packing.Packing`): position-wise layers see one
`(N, D)` matrix, attention scatters back to `(B, T)` for its one SDPA call. Values at real positions are those of
the padded path; padded positions are zero in every output. The pipelines run this way.

Shape letters: B batch, T sequence length, D model width (`dim`), H heads, C choices, V vocabulary, N real tokens.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..configuration import DistilBertConfig
from ..errors import InputError
from .kernels import linear, stacked_linear
from .outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from .packing import Packing, check_right_padded
from .pretrained import PreTrainedModel

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")
# the heads' ReLU after pre_classifier, as in the reference a function, not a submodule of the model
RELU = nn.ReLU()


class GELUActivation(nn.Module):
    """The exact erf form 0.5·x·(1 + erf(x/√2)), as the reference's "gelu" (not the tanh approximation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x)


class NewGELUActivation(nn.Module):
    """The tanh approximation of GELU ("gelu_new")."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def get_activation(name: str) -> nn.Module:
    """A fresh activation module for a config name (the config has already checked the name is known)."""
    table = {
        "gelu": GELUActivation,
        "gelu_new": NewGELUActivation,
        "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"),
        "relu": nn.ReLU,
        "silu": nn.SiLU,
        "swish": nn.SiLU,
        "tanh": nn.Tanh,
    }
    return table[name]()


def sinusoidal_table(positions: int, dim: int) -> torch.Tensor:
    """angle(p, j) = p / 10000^(2·⌊j/2⌋/dim); sin in even columns, cos in odd ones. (positions, dim)"""
    position = torch.arange(positions, dtype=torch.float64).unsqueeze(1)  # (P, 1)
    exponent = 2 * (torch.arange(dim, dtype=torch.float64) // 2) / dim  # (dim,)
    angles = position / torch.pow(10000.0, exponent)  # (P, dim)
    table = torch.empty(positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.float()


class Embeddings(nn.Module):
    """word + position embeddings (no token types in DistilBERT), then LayerNorm and dropout."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.dim, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.dim)
        self.LayerNorm = nn.LayerNorm(config.dim, eps=1e-12)
        self.dropout = nn.Dropout(config.dropout)
        # a trainable table that starts sinusoidal, as in the reference; the flag tells _init_weights
        self.position_embeddings.sinusoidal = config.sinusoidal_pos_embds
        # not saved: old checkpoints that carry a stale copy have it dropped on load
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).unsqueeze(0),
                             persistent=False)

    def forward(self, input_ids: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, T, D)
        length = inputs_embeds.size(1)
        if position_ids is None:
            position_ids = self.position_ids[:, :length]  # (1, T)
        elif not isinstance(position_ids, torch.Tensor) or position_ids.dtype.is_floating_point \
                or position_ids.dtype == torch.bool:
            raise InputError(f"position_ids must be a tensor of integer positions, got {position_ids!r:.80}")
        elif not torch.compiler.is_compiling() and position_ids.numel() and (
                int(position_ids.min()) < 0 or int(position_ids.max()) >= self.position_embeddings.num_embeddings):
            raise InputError(f"position_ids hold {int(position_ids.min())}..{int(position_ids.max())}, outside "
                             f"[0, {self.position_embeddings.num_embeddings}) (max_position_embeddings)")
        embeddings = inputs_embeds + self.position_embeddings(position_ids)  # (B, T, D)
        return self.dropout(self.LayerNorm(embeddings))

    def forward_packed(self, packing: Packing, input_ids: torch.Tensor | None = None,
                       inputs_embeds: torch.Tensor | None = None,
                       position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The same sum on the real tokens only: (N, D)."""
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(packing.pack(input_ids))  # (N, D)
        else:
            inputs_embeds = packing.pack(inputs_embeds)  # (N, D)
        if position_ids is None:
            positions = packing.positions  # (N,)
        else:
            positions = packing.pack(position_ids.expand(packing.batch, packing.length))  # (N,)
        embeddings = inputs_embeds + self.position_embeddings(positions)  # (N, D)
        return self.dropout(self.LayerNorm(embeddings))


class DistilBertSelfAttention(nn.Module):
    """Multi-head self-attention with q_lin/k_lin/v_lin/out_lin; SDPA by default, eager when weights are asked for."""

    def __init__(self, config: DistilBertConfig, attn_implementation: str = "sdpa") -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.head_dim = config.dim // config.n_heads
        self.attn_implementation = attn_implementation
        self.q_lin = nn.Linear(config.dim, config.dim)
        self.k_lin = nn.Linear(config.dim, config.dim)
        self.v_lin = nn.Linear(config.dim, config.dim)
        self.out_lin = nn.Linear(config.dim, config.dim)
        self.dropout = nn.Dropout(config.attention_dropout)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None, output_attentions: bool = False,
                packing: Packing | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """hidden (B, T, D) with a key mask, or packed (N, D) with its `packing` (then `mask` is ignored)."""
        if packing is not None:
            B, T, D = packing.batch, packing.length, hidden.size(-1)
            mask = packing.key_mask

            def heads(projected: torch.Tensor) -> torch.Tensor:  # (N, D) -> (B, H, T, Dh)
                return packing.unpack(projected).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        else:
            B, T, D = hidden.shape

            def heads(projected: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, H, T, Dh)
                return projected.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        stacked = stacked_linear((self.q_lin, self.k_lin, self.v_lin), hidden)  # (..., 3·D): Q, K, V in one GEMM
        if stacked is not None:
            if packing is not None:
                stacked = packing.unpack(stacked)  # (B, T, 3·D)
            # (B, T, 3, H, Dh) -> three (B, H, T, Dh) views
            query, key, value = stacked.view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        else:
            query = heads(linear(self.q_lin, hidden))  # (B, H, T, Dh)
            key = heads(linear(self.k_lin, hidden))  # (B, H, T, Dh)
            value = heads(linear(self.v_lin, hidden))  # (B, H, T, Dh)
        scale = self.head_dim**-0.5

        weights = None
        if output_attentions or self.attn_implementation == "eager":
            scores = torch.matmul(query, key.transpose(-1, -2)) * scale  # (B, H, T, T)
            if mask is not None:
                scores = scores + additive_mask(mask, scores.dtype)
            weights = self.dropout(F.softmax(scores, dim=-1))  # (B, H, T, T), softmax in the input dtype
            context = torch.matmul(weights, value)  # (B, H, T, Dh)
            if packing is not None and packing.key_mask is not None:
                weights = weights * packing.query_mask()  # rows of padded queries are zero when packed
        else:
            dropout = self.dropout.p if self.training else 0.0
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout,
                                                     scale=scale)  # (B, H, T, Dh)
        context = context.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        if packing is not None:
            context = packing.pack(context)  # (N, D)
        return linear(self.out_lin, context), weights


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A boolean keep-mask (or an already additive float mask) as 0 / dtype-min values for eager attention."""
    if mask.dtype == torch.bool:
        return torch.zeros((), dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
    return mask.to(dtype)


class FFN(nn.Module):
    """lin1 -> activation -> lin2 -> dropout, optionally over chunks of the sequence to bound memory."""

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.lin1 = nn.Linear(config.dim, config.hidden_dim)
        self.lin2 = nn.Linear(config.hidden_dim, config.dim)
        self.activation = get_activation(config.activation)
        self.chunk_size = config.chunk_size_feed_forward

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.chunk_size and hidden.size(-2) > self.chunk_size:
            # positions are independent in the FFN, so chunks along the tokens (T, or N when packed) give
            # identical results
            return torch.cat([self._forward(chunk) for chunk in hidden.split(self.chunk_size, dim=-2)], dim=-2)
        return self._forward(hidden)

    def _forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dropout(linear(self.lin2, linear(self.lin1, hidden, self.activation)))  # (B, T, D)


class TransformerBlock(nn.Module):
    """Post-LN block: x = LN(x + attention(x)); x = LN(x + ffn(x))."""

    def __init__(self, config: DistilBertConfig, attn_implementation: str = "sdpa") -> None:
        super().__init__()
        self.attention = DistilBertSelfAttention(config, attn_implementation)
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.ffn = FFN(config)
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None, output_attentions: bool = False,
                packing: Packing | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attention(hidden, mask, output_attentions, packing)  # (B, T, D) or (N, D)
        hidden = self.sa_layer_norm(attended + hidden)  # (B, T, D) or (N, D)
        hidden = self.output_layer_norm(self.ffn(hidden) + hidden)  # (B, T, D) or (N, D)
        return hidden, weights


class Transformer(nn.Module):
    def __init__(self, config: DistilBertConfig, attn_implementation: str = "sdpa") -> None:
        super().__init__()
        self.layer = nn.ModuleList(TransformerBlock(config, attn_implementation) for _ in range(config.n_layers))
        self.gradient_checkpointing = False

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None, output_hidden_states: bool,
                output_attentions: bool, packing: Packing | None = None) -> BaseModelOutput:
        """Hidden states stay in the input's layout: (B, T, D), or packed (N, D) with `packing`."""
        all_hidden = [hidden] if output_hidden_states else None
        all_attentions = [] if output_attentions else None
        for block in self.layer:
            if self.gradient_checkpointing and self.training:
                hidden, weights = torch.utils.checkpoint.checkpoint(block, hidden, mask, output_attentions,
                                                                    packing, use_reentrant=False)
            else:
                hidden, weights = block(hidden, mask, output_attentions, packing)
            if all_hidden is not None:
                all_hidden.append(hidden)
            if all_attentions is not None:
                all_attentions.append(weights)
        return BaseModelOutput(
            last_hidden_state=hidden,
            hidden_states=tuple(all_hidden) if all_hidden is not None else None,
            attentions=tuple(all_attentions) if all_attentions is not None else None,
        )


def attention_mask_for(attention_mask: torch.Tensor | None, shape: tuple[int, int]) -> torch.Tensor | None:
    """The 2-D keep-mask (1 = real token) as a boolean (B, 1, 1, T) key mask; None when nothing is padded, so SDPA
    can use its fused kernels. A 4-D mask is passed through unchanged."""
    if attention_mask is None:
        return None
    if attention_mask.dim() == 4:
        return attention_mask
    if attention_mask.dim() != 2 or tuple(attention_mask.shape) != tuple(shape):
        raise InputError(f"attention_mask has shape {tuple(attention_mask.shape)}, expected {tuple(shape)} "
                         "(batch, sequence) like input_ids")
    keep = attention_mask.bool()
    if not torch.compiler.is_compiling() and bool(keep.all()):
        return None
    return keep[:, None, None, :]  # (B, 1, 1, T)


class DistilBertPreTrainedModel(PreTrainedModel):
    """DistilBERT's init (N(0, initializer_range) weights, zero biases and padding row, unit LayerNorm) and keys."""

    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    supports_packed_execution = True  # forward(..., packed=True): see modeling/packing.py
    tied_weights_keys = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(0.0, std)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding) and getattr(module, "sinusoidal", False):
            module.weight.data.copy_(sinusoidal_table(module.num_embeddings, module.embedding_dim))
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(0.0, std)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            module.weight.data.fill_(1.0)
            module.bias.data.zero_()


class DistilBertModel(DistilBertPreTrainedModel):
    """The bare encoder: token ids -> contextual embeddings `(B, T, D)`.

    Takes `input_ids` (B, T) and an `attention_mask` (1 = real token, 0 = padding); returns a `BaseModelOutput`
    (`last_hidden_state`, and per layer `hidden_states` / `attentions` when asked for).

    >>> import torch
    >>> from distilkit import DistilBertConfig, DistilBertModel
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64)  # a tiny model
    >>> model = DistilBertModel(config).eval()
    >>> input_ids = torch.tensor([[2, 7, 8, 3], [2, 9, 3, 0]])   # the second text is padded
    >>> attention_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    >>> output = model(input_ids, attention_mask=attention_mask, output_hidden_states=True)
    >>> output.last_hidden_state.shape, len(output.hidden_states)  # (batch, tokens, dim); 1 + n_layers
    (torch.Size([2, 4, 32]), 2)
    """

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        implementation = self.attn_implementation
        self.embeddings = Embeddings(config)
        self.transformer = Transformer(config, implementation)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.embeddings.word_embeddings = embeddings

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, packed: bool = False, **kwargs) -> BaseModelOutput | tuple:
        output, packing = self.encode(input_ids, attention_mask, inputs_embeds, position_ids, output_attentions,
                                      output_hidden_states, packed, kwargs)
        if packing is not None:
            output = BaseModelOutput(last_hidden_state=packing.unpack(output.last_hidden_state),
                                     hidden_states=output.hidden_states, attentions=output.attentions)
        return_dict = self.config.return_dict if return_dict is None else return_dict
        return output if return_dict else output.to_tuple()

    def encode(self, input_ids, attention_mask, inputs_embeds, position_ids, output_attentions,
               output_hidden_states, packed: bool, kwargs: dict) -> tuple[BaseModelOutput, Packing | None]:
        """The encoder in either layout. Packed, `last_hidden_state` stays packed (N, D) for the heads, with the
        `Packing` that places it; hidden states and attentions come back in the (B, T) layout."""
        reject_unknown_inputs(kwargs)
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (self.config.output_hidden_states if output_hidden_states is None
                                else output_hidden_states)
        shape = self.check_inputs(input_ids, inputs_embeds)
        if not packed:
            hidden = self.embeddings(input_ids, inputs_embeds, position_ids)  # (B, T, D)
            mask = attention_mask_for(attention_mask, shape)
            return self.transformer(hidden, mask, output_hidden_states, output_attentions), None
        if attention_mask is not None:
            attention_mask_for(attention_mask, shape)  # the same shape check as the padded path
            check_right_padded(attention_mask)
        device = (input_ids if input_ids is not None else inputs_embeds).device
        packing = Packing.from_mask(attention_mask, shape, device)
        hidden = self.embeddings.forward_packed(packing, input_ids, inputs_embeds, position_ids)  # (N, D)
        output = self.transformer(hidden, None, output_hidden_states, output_attentions, packing)
        hidden_states = output.hidden_states
        if hidden_states is not None:
            hidden_states = tuple(packing.unpack(state) for state in hidden_states)  # (B, T, D) each
        return BaseModelOutput(last_hidden_state=output.last_hidden_state, hidden_states=hidden_states,
                               attentions=output.attentions), packing

    def check_inputs(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None) -> tuple[int, int]:
        """Clear errors for inputs that would otherwise fail deep inside torch; returns (B, T)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise InputError("pass exactly one of input_ids and inputs_embeds "
                             f"(got {'both' if input_ids is not None else 'neither'})")
        if input_ids is not None:
            if not isinstance(input_ids, torch.Tensor):
                raise InputError(f"input_ids must be a torch.Tensor, got {type(input_ids).__name__}; "
                                 "use return_tensors='pt' in the tokenizer")
            if input_ids.dim() != 2:
                raise InputError(f"input_ids must have shape (batch, sequence), got {tuple(input_ids.shape)}")
            if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool:
                raise InputError(f"input_ids must hold integer ids, got dtype {input_ids.dtype}")
            vocab_size = self.embeddings.word_embeddings.num_embeddings
            # a data-dependent check: skipped while torch.export / torch.compile trace the graph
            if not torch.compiler.is_compiling() and input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= vocab_size):
                bad = input_ids[(input_ids < 0) | (input_ids >= vocab_size)].unique()[:5].tolist()
                raise InputError(f"input_ids contain ids {bad} outside the vocabulary [0, {vocab_size}); the "
                                 "tokenizer and the model do not match")
            shape = tuple(input_ids.shape)
        else:
            if inputs_embeds.dim() != 3 or inputs_embeds.size(-1) != self.config.dim:
                raise InputError(f"inputs_embeds must have shape (batch, sequence, {self.config.dim}), "
                                 f"got {tuple(inputs_embeds.shape)}")
            shape = tuple(inputs_embeds.shape[:2])
        limit = self.embeddings.position_embeddings.num_embeddings
        if shape[1] > limit:
            raise InputError(f"the input has {shape[1]} tokens but the model accepts at most {limit} "
                             "(max_position_embeddings); truncate it, e.g. tokenizer(..., truncation=True)")
        return shape


def reject_unknown_inputs(kwargs: dict) -> None:
    # `token_type_ids` and `head_mask` are accepted and ignored, as the reference does: DistilBERT has no segment
    # embeddings, and tokenizers of the BERT family produce the ids anyway.
    unknown = sorted(set(kwargs) - {"token_type_ids", "head_mask"})
    if unknown:
        raise InputError(f"unexpected model inputs {unknown}; DistilBERT takes input_ids, attention_mask, "
                         "inputs_embeds, position_ids, labels and output flags")


class DistilBertPreTrainedHead(DistilBertPreTrainedModel):
    """What every head shares: the flags resolution and the encoder call, in the padded or packed layout."""

    def encode(self, input_ids, attention_mask, inputs_embeds, position_ids, output_attentions,
               output_hidden_states, kwargs) -> tuple[BaseModelOutput, Packing | None]:
        packed = bool(kwargs.pop("packed", False))
        return self.distilbert.encode(input_ids, attention_mask, inputs_embeds, position_ids, output_attentions,
                                      output_hidden_states, packed, kwargs)

    @staticmethod
    def per_token(values: torch.Tensor, packing: Packing | None) -> torch.Tensor:
        """Per-token head outputs in the (B, T, ·) layout: unpacked (zeros at padding) when computed packed."""
        return values if packing is None else packing.unpack(values)

    @staticmethod
    def first_token(hidden: torch.Tensor, packing: Packing | None) -> torch.Tensor:
        """(B, D): the [CLS] state of each row, in either layout."""
        return hidden[:, 0] if packing is None else packing.first_tokens(hidden)

    def finish(self, output_class, return_dict: bool | None, encoded: BaseModelOutput, **fields):
        output = output_class(**fields, hidden_states=encoded.hidden_states, attentions=encoded.attentions)
        return_dict = self.config.return_dict if return_dict is None else return_dict
        return output if return_dict else output.to_tuple()


class DistilBertForMaskedLM(DistilBertPreTrainedHead):
    """vocab_projector(LayerNorm(GELU(vocab_transform(h)))), the projector's weight tied to the word embeddings.

    Predicts a word at every position (`logits` (B, T, vocab_size)); with `labels` (B, T) it also returns the
    cross-entropy `loss` over the positions whose label is not -100 (usually only the masked ones).

    >>> import torch
    >>> from distilkit import DistilBertConfig, DistilBertForMaskedLM
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64)  # a tiny model
    >>> model = DistilBertForMaskedLM(config)
    >>> input_ids = torch.tensor([[2, 7, 4, 9, 3]])       # [CLS] w [MASK] w [SEP]
    >>> labels = torch.tensor([[-100, -100, 8, -100, -100]])  # only the masked word counts
    >>> output = model(input_ids, labels=labels)
    >>> output.loss.shape, output.logits.shape
    (torch.Size([]), torch.Size([1, 5, 30]))
    >>> output.loss.backward()   # one training step's gradients
    """

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.activation = get_activation(config.activation)
        self.distilbert = DistilBertModel(config)
        self.vocab_transform = nn.Linear(config.dim, config.dim)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.vocab_projector = nn.Linear(config.dim, config.vocab_size)
        self.mlm_loss_fct = nn.CrossEntropyLoss()
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.vocab_projector

    def vocab_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The head alone: encoder states (..., D) -> vocabulary logits (..., V)."""
        transformed = linear(self.vocab_transform, hidden, self.activation)  # (..., D)
        return linear(self.vocab_projector, self.vocab_layer_norm(transformed))  # (..., V)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        encoded, packing = self.encode(input_ids, attention_mask, inputs_embeds, position_ids, output_attentions,
                                       output_hidden_states, kwargs)
        logits = self.per_token(self.vocab_logits(encoded.last_hidden_state), packing)  # (B, T, V)
        loss = None
        if labels is not None:
            check_labels(labels, logits.shape[:2], "labels", num_classes=logits.size(-1))
            loss = self.mlm_loss_fct(logits.view(-1, logits.size(-1)), labels.view(-1))
        return self.finish(MaskedLMOutput, return_dict, encoded, loss=loss, logits=logits)


class DistilBertForSequenceClassification(DistilBertPreTrainedHead):
    """[CLS] -> pre_classifier -> ReLU -> dropout -> classifier, with regression / single- / multi-label losses.

    Returns a `SequenceClassifierOutput`: `logits` (B, num_labels) and, with `labels`, the `loss` (cross-entropy
    for class ids, MSE for `num_labels=1`, BCE for `problem_type="multi_label_classification"`).

    >>> import torch
    >>> from distilkit import DistilBertConfig, DistilBertForSequenceClassification
    >>> from distilkit.tokenization import DistilBertTokenizerFast
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "good", "bad", "film"]
    >>> tokenizer = DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)})
    >>> config = DistilBertConfig(vocab_size=len(vocab), dim=32, n_heads=2, n_layers=1, hidden_dim=64,
    ...                           id2label={0: "NEGATIVE", 1: "POSITIVE"})
    >>> model = DistilBertForSequenceClassification(config)
    >>> batch = tokenizer(["a good film", "a bad film"], padding=True, return_tensors="pt")
    >>> output = model(**batch, labels=torch.tensor([1, 0]))
    >>> output.loss.shape, output.logits.shape   # (batch, num_labels)
    (torch.Size([]), torch.Size([2, 2]))
    >>> model.config.id2label[int(output.logits[0].argmax())] in ("NEGATIVE", "POSITIVE")
    True
    """

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, config.num_labels)
        self.dropout = nn.Dropout(config.seq_classif_dropout)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        encoded, packing = self.encode(input_ids, attention_mask, inputs_embeds, position_ids, output_attentions,
                                       output_hidden_states, kwargs)
        pooled = self.first_token(encoded.last_hidden_state, packing)  # (B, D): the [CLS] token
        pooled = self.dropout(linear(self.pre_classifier, pooled, RELU))  # (B, D)
        logits = self.classifier(pooled)  # (B, num_labels)
        loss = None
        if labels is not None:
            loss = self.classification_loss(logits, labels)
        return self.finish(SequenceClassifierOutput, return_dict, encoded, loss=loss, logits=logits)

    def classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if not isinstance(labels, torch.Tensor):
            raise InputError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
        if labels.size(0) != logits.size(0):
            raise InputError(f"labels hold {labels.size(0)} rows but the batch has {logits.size(0)}")
        if self.config.problem_type is None:
            # inferred as the reference does, and written into the config so later calls agree
            if self.num_labels == 1:
                self.config.problem_type = "regression"
            elif labels.dtype in (torch.long, torch.int):
                self.config.problem_type = "single_label_classification"
            else:
                self.config.problem_type = "multi_label_classification"
        problem = self.config.problem_type
        if problem == "regression":
            if self.num_labels == 1:
                return F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype))
            return F.mse_loss(logits, labels.to(logits.dtype))
        if problem == "single_label_classification":
            if labels.dtype.is_floating_point:
                raise InputError(f"single-label classification needs integer class labels, got dtype {labels.dtype}; "
                                 "pass labels as torch.long (or set problem_type='multi_label_classification')")
            flat = labels.view(-1)
            valid = flat[flat != -100]
            if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= self.num_labels):
                raise InputError(f"labels {sorted(set(valid.tolist()))} are outside [0, {self.num_labels}); "
                                 f"the model has num_labels={self.num_labels}")
            return F.cross_entropy(logits.view(-1, self.num_labels), flat)
        if tuple(labels.shape) != tuple(logits.shape):
            raise InputError(f"multi-label classification needs labels of shape {tuple(logits.shape)} "
                             f"(one 0/1 column per label), got {tuple(labels.shape)}")
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


class DistilBertForTokenClassification(DistilBertPreTrainedHead):
    """classifier(dropout(h)) per token.

    Returns a `TokenClassifierOutput`: `logits` (B, T, num_labels) and, with `labels` (B, T), the cross-entropy
    `loss`, ignoring positions labelled -100 (special tokens, padding, continued word pieces).

    >>> import torch
    >>> from distilkit import DistilBertConfig, DistilBertForTokenClassification
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64,
    ...                           id2label={0: "O", 1: "B-PER", 2: "I-PER"})
    >>> model = DistilBertForTokenClassification(config)
    >>> input_ids = torch.tensor([[2, 11, 12, 13, 3]])     # [CLS] John Smith left [SEP]
    >>> labels = torch.tensor([[-100, 1, 2, 0, -100]])   # no label for [CLS] / [SEP]
    >>> output = model(input_ids, labels=labels)
    >>> output.loss.shape, output.logits.shape   # (batch, tokens, num_labels)
    (torch.Size([]), torch.Size([1, 5, 3]))
    """

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.distilbert = DistilBertModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.dim, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        encoded, packing = self.encode(input_ids, attention_mask, inputs_embeds, position_ids, output_attentions,
                                       output_hidden_states, kwargs)
        logits = self.per_token(self.classifier(self.dropout(encoded.last_hidden_state)), packing)  # (B, T, L)
        loss = None
        if labels is not None:
            check_labels(labels, logits.shape[:2], "labels", num_classes=self.num_labels)
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return self.finish(TokenClassifierOutput, return_dict, encoded, loss=loss, logits=logits)


class DistilBertForQuestionAnswering(DistilBertPreTrainedHead):
    """qa_outputs(dropout(h)) split into start and end logits; targets outside the window are ignored.

    Input: question and context as one sequence (`[CLS] question [SEP] context [SEP]`). Returns a
    `QuestionAnsweringModelOutput`: `start_logits` and `end_logits` (B, T) and, with `start_positions` and
    `end_positions` (B,) (token indices of the answer span), the `loss` (mean of the two cross-entropies).

    >>> import torch
    >>> from distilkit import DistilBertConfig, DistilBertForQuestionAnswering
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64)  # a tiny model
    >>> model = DistilBertForQuestionAnswering(config)
    >>> input_ids = torch.tensor([[2, 7, 8, 3, 9, 10, 11, 3]])   # [CLS] q q [SEP] c c c [SEP]
    >>> output = model(input_ids, start_positions=torch.tensor([5]), end_positions=torch.tensor([6]))
    >>> output.loss.shape, output.start_logits.shape, output.end_logits.shape
    (torch.Size([]), torch.Size([1, 8]), torch.Size([1, 8]))
    """

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        if config.num_labels != 2:
            raise InputError(f"question answering needs num_labels=2 (start and end), got {config.num_labels}")
        self.distilbert = DistilBertModel(config)
        self.qa_outputs = nn.Linear(config.dim, config.num_labels)
        self.dropout = nn.Dropout(config.qa_dropout)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None,
                start_positions=None, end_positions=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        if kwargs.get("packed") and start_positions is not None:
            raise InputError("question-answering losses need the padded layout (padded positions take part in "
                             "the softmax over the window); call the model with packed=False to train")
        encoded, packing = self.encode(input_ids, attention_mask, inputs_embeds, position_ids, output_attentions,
                                       output_hidden_states, kwargs)
        logits = self.per_token(self.qa_outputs(self.dropout(encoded.last_hidden_state)), packing)  # (B, T, 2)
        start_logits, end_logits = (part.squeeze(-1).contiguous() for part in logits.split(1, dim=-1))  # (B, T)
        loss = None
        if start_positions is not None and end_positions is not None:
            length = start_logits.size(1)
            # positions beyond the window are clamped to T and then ignored by the loss
            start = start_positions.view(-1).clamp(0, length)
            end = end_positions.view(-1).clamp(0, length)
            loss = (F.cross_entropy(start_logits, start, ignore_index=length)
                    + F.cross_entropy(end_logits, end, ignore_index=length)) / 2
        return self.finish(QuestionAnsweringModelOutput, return_dict, encoded, loss=loss,
                           start_logits=start_logits, end_logits=end_logits)


class DistilBertForMultipleChoice(DistilBertPreTrainedHead):
    """Inputs (B, C, T) are scored per choice through the [CLS] classifier path; logits (B, C).

    Each choice is encoded with the prompt (`[CLS] prompt [SEP] choice [SEP]`); with `labels` (B,) (the index of
    the right choice) a `MultipleChoiceModelOutput` also holds the cross-entropy `loss`.

    >>> import torch
    >>> from distilkit import DistilBertConfig, DistilBertForMultipleChoice
    >>> config = DistilBertConfig(vocab_size=30, dim=32, n_heads=2, n_layers=1, hidden_dim=64)  # a tiny model
    >>> model = DistilBertForMultipleChoice(config)
    >>> input_ids = torch.tensor([[[2, 7, 3, 8, 3], [2, 7, 3, 9, 3], [2, 7, 3, 10, 3]]])  # 3 choices
    >>> output = model(input_ids, labels=torch.tensor([1]))
    >>> output.loss.shape, output.logits.shape   # (batch, choices)
    (torch.Size([]), torch.Size([1, 3]))
    """

    def __init__(self, config: DistilBertConfig) -> None:
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, 1)
        self.dropout = nn.Dropout(config.seq_classif_dropout)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        reference = input_ids if input_ids is not None else inputs_embeds
        if reference is None or reference.dim() < 3:
            shape = None if reference is None else tuple(reference.shape)
            raise InputError(f"multiple choice needs inputs of shape (batch, choices, sequence), got {shape}")
        choices = reference.size(1)

        # reshape (not view): non-contiguous inputs, e.g. from expand() or transpose(), are accepted
        def flatten(tensor, trailing):
            return None if tensor is None else tensor.reshape(-1, *tensor.shape[2:2 + trailing])

        encoded, packing = self.encode(flatten(input_ids, 1), flatten(attention_mask, 1),
                                       flatten(inputs_embeds, 2), flatten(position_ids, 1), output_attentions,
                                       output_hidden_states, kwargs)
        pooled = self.first_token(encoded.last_hidden_state, packing)  # (B*C, D)
        pooled = self.dropout(linear(self.pre_classifier, pooled, RELU))  # (B*C, D)
        logits = self.classifier(pooled).view(-1, choices)  # (B, C)
        loss = None
        if labels is not None:
            check_labels(labels, logits.shape[:1], "labels", num_classes=choices)
            loss = F.cross_entropy(logits, labels.view(-1))
        return self.finish(MultipleChoiceModelOutput, return_dict, encoded, loss=loss, logits=logits)


def check_labels(labels: torch.Tensor, shape: tuple[int, ...], name: str, num_classes: int | None = None) -> None:
    """Class-index labels: integer dtype, matching shape, values in range or -100 (ignored)."""
    if not isinstance(labels, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if labels.dtype.is_floating_point:
        raise InputError(f"{name} must hold integer class ids, got dtype {labels.dtype}")
    if labels.numel() != math.prod(shape):
        raise InputError(f"{name} has shape {tuple(labels.shape)}, expected {tuple(shape)}")
    if num_classes is not None:
        valid = labels[labels != -100]
        if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= num_classes):
            raise InputError(f"{name} contain {sorted(set(valid.tolist()))[:10]}, outside [0, {num_classes}) "
                             "(use -100 to ignore a position)")
