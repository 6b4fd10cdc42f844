"""DistilBERT as Keras 3 models, the TensorFlow twin of `modeling/distilbert.py`, bottom-up: embeddings ->
attention -> FFN -> block -> encoder, then the five task heads.

Same numerics as the PyTorch file (post-LN blocks, LayerNorm eps 1e-12, exact-erf GELU, dtype-min additive mask)
and the same parameter names: a Keras `Dense` "q_lin" holds the checkpoint's `...q_lin.weight` transposed as its
kernel and `...q_lin.bias`, a `LayerNormalization` its gamma/beta as `.weight`/`.bias`, an `Embedding` its table
as `.weight` (`pretrained.checkpoint_variables` walks the layer attributes, so keys are attribute paths). The
layers use `keras.ops` only, so they also run on Keras' JAX and PyTorch backends; calls, losses and outputs
follow the reference's last TensorFlow classes (`TFDistilBert*`, transformers 4.x): the first argument may be a
dict or `BatchEncoding` of inputs (labels included), losses are per example.

Shape letters: B batch, T sequence length, D model width (`dim`), H heads, C choices, V vocabulary.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._extras import require
from ..configuration import DistilBertConfig
from ..errors import InputError
from ..modeling.distilbert import reject_unknown_inputs, sinusoidal_table
from .outputs import (
    TFBaseModelOutput,
    TFMaskedLMOutput,
    TFMultipleChoiceModelOutput,
    TFQuestionAnsweringModelOutput,
    TFSequenceClassifierOutput,
    TFTokenClassifierOutput,
)
from .pretrained import TFPreTrainedModel, eager_value

keras = require("keras", "tf", "the TensorFlow (Keras 3) models")
ops = keras.ops


def get_activation(name: str):
    """The activation function of a config name (the config has already checked the name is known)."""
    table = {
        "gelu": lambda x: ops.gelu(x, approximate=False),  # the exact erf form, as the reference's "gelu"
        "gelu_new": lambda x: ops.gelu(x, approximate=True),
        "gelu_pytorch_tanh": lambda x: ops.gelu(x, approximate=True),
        "relu": ops.relu,
        "silu": ops.silu,
        "swish": ops.silu,
        "tanh": ops.tanh,
    }
    return table[name]


def normal(config: DistilBertConfig):
    return keras.initializers.RandomNormal(stddev=config.initializer_range)


def dense(units: int, config: DistilBertConfig, name: str, input_dim: int) -> keras.layers.Dense:
    """A built `Dense` (kernel (input_dim, units) ~ N(0, initializer_range), zero bias): weights exist at once."""
    layer = keras.layers.Dense(units, kernel_initializer=normal(config), name=name)
    layer.build((None, input_dim))
    return layer


def layer_norm(dim: int, name: str) -> keras.layers.LayerNormalization:
    layer = keras.layers.LayerNormalization(epsilon=1e-12, name=name)
    layer.build((None, dim))
    return layer


class TFEmbeddings(keras.layers.Layer):
    """word + position embeddings (no token types in DistilBERT), then LayerNorm and dropout."""

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.word_embeddings = keras.layers.Embedding(config.vocab_size, config.dim,
                                                      embeddings_initializer=normal(config), name="word_embeddings")
        self.word_embeddings.build((None, None))
        self.position_embeddings = keras.layers.Embedding(config.max_position_embeddings, config.dim,
                                                          embeddings_initializer=normal(config),
                                                          name="position_embeddings")
        self.position_embeddings.build((None, None))
        if config.pad_token_id is not None and 0 <= config.pad_token_id < config.vocab_size:
            table = ops.convert_to_numpy(self.word_embeddings.embeddings)
            table[config.pad_token_id] = 0.0  # the padding row starts at zero, as nn.Embedding(padding_idx=...)
            self.word_embeddings.embeddings.assign(table)
        if config.sinusoidal_pos_embds:  # a trainable table that starts sinusoidal, as in the reference
            table = sinusoidal_table(config.max_position_embeddings, config.dim).numpy()
            self.position_embeddings.embeddings.assign(table)
        self.LayerNorm = layer_norm(config.dim, "LayerNorm")
        self.dropout = keras.layers.Dropout(config.dropout)
        self.built = True

    def call(self, input_ids=None, inputs_embeds=None, position_ids=None, training: bool = False):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, T, D)
        if position_ids is None:
            position_ids = ops.arange(ops.shape(inputs_embeds)[1])[None, :]  # (1, T)
        embeddings = inputs_embeds + self.position_embeddings(position_ids)  # (B, T, D)
        return self.dropout(self.LayerNorm(embeddings), training=training)


class TFMultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head self-attention with q_lin/k_lin/v_lin/out_lin; the probabilities are returned when asked for."""

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_heads = config.n_heads
        self.head_dim = config.dim // config.n_heads
        self.q_lin = dense(config.dim, config, "q_lin", config.dim)
        self.k_lin = dense(config.dim, config, "k_lin", config.dim)
        self.v_lin = dense(config.dim, config, "v_lin", config.dim)
        self.out_lin = dense(config.dim, config, "out_lin", config.dim)
        self.dropout = keras.layers.Dropout(config.attention_dropout)
        self.built = True

    def call(self, hidden, key_mask, output_attentions: bool = False, training: bool = False):
        B, T = ops.shape(hidden)[0], ops.shape(hidden)[1]
        H, Dh = self.n_heads, self.head_dim

        def heads(projected):
            return ops.transpose(ops.reshape(projected, (B, T, H, Dh)), (0, 2, 1, 3))  # (B, H, T, Dh)

        query, key, value = heads(self.q_lin(hidden)), heads(self.k_lin(hidden)), heads(self.v_lin(hidden))
        scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2))) * Dh**-0.5  # (B, H, T, T)
        if key_mask is not None:
            # dtype-min where a key is padding: exactly zero weight after the softmax, no NaN
            scores = scores + ops.where(key_mask, 0.0, float(np.finfo(np.float32).min))  # key_mask (B, 1, 1, T)
        weights = self.dropout(ops.softmax(scores, axis=-1), training=training)  # (B, H, T, T)
        context = ops.matmul(weights, value)  # (B, H, T, Dh)
        context = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (B, T, H * Dh))  # (B, T, D)
        return self.out_lin(context), (weights if output_attentions else None)


class TFFFN(keras.layers.Layer):
    """lin1 -> activation -> lin2 -> dropout. (`chunk_size_feed_forward` only bounds memory and leaves results
    unchanged, so the whole sequence goes through at once here.)"""

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lin1 = dense(config.hidden_dim, config, "lin1", config.dim)
        self.lin2 = dense(config.dim, config, "lin2", config.hidden_dim)
        self.activation = get_activation(config.activation)
        self.dropout = keras.layers.Dropout(config.dropout)
        self.built = True

    def call(self, hidden, training: bool = False):
        return self.dropout(self.lin2(self.activation(self.lin1(hidden))), training=training)  # (B, T, D)


class TFTransformerBlock(keras.layers.Layer):
    """Post-LN block: x = LN(x + attention(x)); x = LN(x + ffn(x))."""

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attention = TFMultiHeadSelfAttention(config, name="attention")
        self.sa_layer_norm = layer_norm(config.dim, "sa_layer_norm")
        self.ffn = TFFFN(config, name="ffn")
        self.output_layer_norm = layer_norm(config.dim, "output_layer_norm")
        self.built = True

    def call(self, hidden, key_mask, output_attentions: bool = False, training: bool = False):
        attended, weights = self.attention(hidden, key_mask=key_mask, output_attentions=output_attentions,
                                           training=training)  # (B, T, D)
        hidden = self.sa_layer_norm(attended + hidden)  # (B, T, D)
        hidden = self.output_layer_norm(self.ffn(hidden, training=training) + hidden)  # (B, T, D)
        return hidden, weights


class TFTransformer(keras.layers.Layer):
    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer = [TFTransformerBlock(config, name=f"layer_._{index}") for index in range(config.n_layers)]
        self.built = True

    def call(self, hidden, key_mask, output_hidden_states: bool, output_attentions: bool, training: bool = False):
        all_hidden = [hidden] if output_hidden_states else None
        all_attentions = [] if output_attentions else None
        for block in self.layer:
            hidden, weights = block(hidden, key_mask=key_mask, output_attentions=output_attentions, training=training)
            if all_hidden is not None:
                all_hidden.append(hidden)
            if all_attentions is not None:
                all_attentions.append(weights)
        return TFBaseModelOutput(
            last_hidden_state=hidden,
            hidden_states=tuple(all_hidden) if all_hidden is not None else None,
            attentions=tuple(all_attentions) if all_attentions is not None else None,
        )


def attention_mask_for(attention_mask, shape: tuple) -> Any:
    """The 2-D keep-mask (1 = real token) as a boolean (B, 1, 1, T) key mask; None when none is given."""
    if attention_mask is None:
        return None
    attention_mask = ops.convert_to_tensor(attention_mask)
    if tuple(attention_mask.shape) != tuple(shape) and None not in attention_mask.shape and None not in shape:
        raise InputError(f"attention_mask has shape {tuple(attention_mask.shape)}, expected {tuple(shape)} "
                         "(batch, sequence) like input_ids")
    return ops.cast(attention_mask, "bool")[:, None, None, :]  # (B, 1, 1, T)


class TFDistilBertMainLayer(keras.layers.Layer):
    """The encoder as one layer: what `TFDistilBertModel` and every head hold as `distilbert`."""

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = TFEmbeddings(config, name="embeddings")
        self.transformer = TFTransformer(config, name="transformer")
        self.built = True

    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None,
             output_attentions: bool = False, output_hidden_states: bool = False, training: bool = False):
        shape = self.check_inputs(input_ids, inputs_embeds)
        hidden = self.embeddings(input_ids, inputs_embeds=inputs_embeds, position_ids=position_ids,
                                 training=training)  # (B, T, D)
        key_mask = attention_mask_for(attention_mask, shape)
        return self.transformer(hidden, key_mask=key_mask, output_hidden_states=output_hidden_states,
                                output_attentions=output_attentions, training=training)

    def check_inputs(self, input_ids, inputs_embeds) -> tuple:
        """Clear errors for inputs that would otherwise fail deep inside the backend; returns (B, T)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise InputError("pass exactly one of input_ids and inputs_embeds "
                             f"(got {'both' if input_ids is not None else 'neither'})")
        if input_ids is not None:
            if len(input_ids.shape) != 2:
                raise InputError(f"input_ids must have shape (batch, sequence), got {tuple(input_ids.shape)}")
            if "float" in str(input_ids.dtype) or "bool" in str(input_ids.dtype):
                raise InputError(f"input_ids must hold integer ids, got dtype {input_ids.dtype}")
            values = eager_value(input_ids)  # a data-dependent check: skipped while a graph is traced
            vocab_size = self.config.vocab_size
            if values is not None and values.size and (values.min() < 0 or values.max() >= vocab_size):
                bad = np.unique(values[(values < 0) | (values >= vocab_size)])[:5].tolist()
                raise InputError(f"input_ids contain ids {bad} outside the vocabulary [0, {vocab_size}); the "
                                 "tokenizer and the model do not match")
            shape = tuple(input_ids.shape)
        else:
            if len(inputs_embeds.shape) != 3 or inputs_embeds.shape[-1] != self.config.dim:
                raise InputError(f"inputs_embeds must have shape (batch, sequence, {self.config.dim}), "
                                 f"got {tuple(inputs_embeds.shape)}")
            shape = tuple(inputs_embeds.shape[:2])
        limit = self.config.max_position_embeddings
        if shape[1] is not None and shape[1] > limit:
            raise InputError(f"the input has {shape[1]} tokens but the model accepts at most {limit} "
                             "(max_position_embeddings); truncate it, e.g. tokenizer(..., truncation=True)")
        return shape


class TFDistilBertPreTrainedModel(TFPreTrainedModel):
    """What every model shares: the config class, the prefix and the encoder call with the flags resolved."""

    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    pytorch_class_name = "DistilBertModel"

    def encode(self, inputs: dict[str, Any], training: bool) -> TFBaseModelOutput:
        reject_unknown_inputs(inputs.pop("extra"))
        config = self.config
        output_attentions = inputs["output_attentions"]
        output_hidden_states = inputs["output_hidden_states"]
        return self.distilbert(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
            inputs_embeds=inputs["inputs_embeds"], position_ids=inputs["position_ids"],
            output_attentions=config.output_attentions if output_attentions is None else output_attentions,
            output_hidden_states=(config.output_hidden_states if output_hidden_states is None
                                  else output_hidden_states),
            training=training)

    def finish(self, output_class, inputs: dict[str, Any], encoded: TFBaseModelOutput, **fields):
        output = output_class(**fields, hidden_states=encoded.hidden_states, attentions=encoded.attentions)
        return_dict = self.config.return_dict if inputs["return_dict"] is None else inputs["return_dict"]
        return output if return_dict else output.to_tuple()


class TFDistilBertModel(TFDistilBertPreTrainedModel):
    """The bare encoder: token ids -> contextual embeddings `(B, T, D)`."""

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.distilbert = TFDistilBertMainLayer(config, name="distilbert")
        self.built = True

    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training: bool = False,
             **kwargs):
        inputs = self.unpack_inputs(locals())
        encoded = self.encode(inputs, training)
        return_dict = self.config.return_dict if inputs["return_dict"] is None else inputs["return_dict"]
        return encoded if return_dict else encoded.to_tuple()


class TFDistilBertForMaskedLM(TFDistilBertPreTrainedModel):
    """vocab_projector(LayerNorm(GELU(vocab_transform(h)))), the projector's weight tied to the word embeddings."""

    pytorch_class_name = "DistilBertForMaskedLM"

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.activation = get_activation(config.activation)
        self.distilbert = TFDistilBertMainLayer(config, name="distilbert")
        self.vocab_transform = dense(config.dim, config, "vocab_transform", config.dim)
        self.vocab_layer_norm = layer_norm(config.dim, "vocab_layer_norm")
        self.vocab_projector = TFVocabProjector(config, self.distilbert.embeddings.word_embeddings,
                                                name="vocab_projector")
        self.built = True

    def vocab_logits(self, hidden):
        """The head alone: encoder states (..., D) -> vocabulary logits (..., V)."""
        return self.vocab_projector(self.vocab_layer_norm(self.activation(self.vocab_transform(hidden))))

    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None, labels=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training: bool = False,
             **kwargs):
        inputs = self.unpack_inputs(locals())
        encoded = self.encode(inputs, training)
        logits = self.vocab_logits(encoded.last_hidden_state)  # (B, T, V)
        loss = None
        if inputs["labels"] is not None:
            loss = masked_token_loss(inputs["labels"], logits, "labels")
        return self.finish(TFMaskedLMOutput, inputs, encoded, loss=loss, logits=logits)


class TFVocabProjector(keras.layers.Layer):
    """logits = h · Eᵀ + bias with E the word-embedding table (tied), or its own `weight` (V, D) when
    `tie_word_embeddings=False`; both in the checkpoint's (V, D) layout, so no transpose on load."""

    def __init__(self, config: DistilBertConfig, word_embeddings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tied = config.tie_word_embeddings
        self.word_embeddings = word_embeddings if self.tied else None
        if not self.tied:
            self.weight = self.add_weight(shape=(config.vocab_size, config.dim), initializer=normal(config),
                                          name="weight")
        self.bias = self.add_weight(shape=(config.vocab_size,), initializer="zeros", name="bias")
        self.built = True

    def call(self, hidden):
        table = self.word_embeddings.embeddings if self.tied else self.weight  # (V, D)
        return ops.matmul(hidden, ops.transpose(table)) + self.bias  # (..., V)


class TFDistilBertForSequenceClassification(TFDistilBertPreTrainedModel):
    """[CLS] -> pre_classifier -> ReLU -> dropout -> classifier; per-example loss: MSE for one label, sparse
    cross-entropy otherwise (binary cross-entropy per example for problem_type='multi_label_classification')."""

    pytorch_class_name = "DistilBertForSequenceClassification"

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.num_labels = config.num_labels
        self.distilbert = TFDistilBertMainLayer(config, name="distilbert")
        self.pre_classifier = dense(config.dim, config, "pre_classifier", config.dim)
        self.classifier = dense(config.num_labels, config, "classifier", config.dim)
        self.dropout = keras.layers.Dropout(config.seq_classif_dropout)
        self.built = True

    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None, labels=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training: bool = False,
             **kwargs):
        inputs = self.unpack_inputs(locals())
        encoded = self.encode(inputs, training)
        pooled = encoded.last_hidden_state[:, 0]  # (B, D): the [CLS] token
        pooled = self.dropout(ops.relu(self.pre_classifier(pooled)), training=training)  # (B, D)
        logits = self.classifier(pooled)  # (B, num_labels)
        loss = None
        if inputs["labels"] is not None:
            loss = self.classification_loss(inputs["labels"], logits)
        return self.finish(TFSequenceClassifierOutput, inputs, encoded, loss=loss, logits=logits)

    def classification_loss(self, labels, logits):
        labels = ops.convert_to_tensor(labels)
        batch = logits.shape[0]
        if labels.shape[0] is not None and batch is not None and labels.shape[0] != batch:
            raise InputError(f"labels hold {labels.shape[0]} rows but the batch has {batch}")
        if self.num_labels == 1 or self.config.problem_type == "regression":
            targets = ops.reshape(ops.cast(labels, logits.dtype), (-1, self.num_labels))  # (B, num_labels)
            return ops.mean(ops.square(logits - targets), axis=-1)  # (B,)
        if self.config.problem_type == "multi_label_classification":
            if tuple(labels.shape) != tuple(logits.shape):
                raise InputError(f"multi-label classification needs labels of shape {tuple(logits.shape)} "
                                 f"(one 0/1 column per label), got {tuple(labels.shape)}")
            targets = ops.cast(labels, logits.dtype)
            return ops.mean(ops.binary_crossentropy(targets, logits, from_logits=True), axis=-1)  # (B,)
        check_class_labels(labels, (batch,), "labels", self.num_labels)
        return sparse_cross_entropy(ops.reshape(labels, (-1,)), logits)  # (B,)


class TFDistilBertForTokenClassification(TFDistilBertPreTrainedModel):
    """classifier(dropout(h)) per token; the loss is the mean over tokens whose label is not -100, shape (1,)."""

    pytorch_class_name = "DistilBertForTokenClassification"

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.num_labels = config.num_labels
        self.distilbert = TFDistilBertMainLayer(config, name="distilbert")
        self.dropout = keras.layers.Dropout(config.dropout)
        self.classifier = dense(config.num_labels, config, "classifier", config.dim)
        self.built = True

    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None, labels=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training: bool = False,
             **kwargs):
        inputs = self.unpack_inputs(locals())
        encoded = self.encode(inputs, training)
        logits = self.classifier(self.dropout(encoded.last_hidden_state, training=training))  # (B, T, num_labels)
        loss = None
        if inputs["labels"] is not None:
            loss = masked_token_loss(inputs["labels"], logits, "labels")
        return self.finish(TFTokenClassifierOutput, inputs, encoded, loss=loss, logits=logits)


class TFDistilBertForQuestionAnswering(TFDistilBertPreTrainedModel):
    """qa_outputs(dropout(h)) split into start and end logits; per-example loss (start + end) / 2, where a
    target outside the window counts zero (as the PyTorch class ignores it)."""

    pytorch_class_name = "DistilBertForQuestionAnswering"

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        if config.num_labels != 2:
            raise InputError(f"question answering needs num_labels=2 (start and end), got {config.num_labels}")
        super().__init__(config, **kwargs)
        self.distilbert = TFDistilBertMainLayer(config, name="distilbert")
        self.qa_outputs = dense(config.num_labels, config, "qa_outputs", config.dim)
        self.dropout = keras.layers.Dropout(config.qa_dropout)
        self.built = True

    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None,
             start_positions=None, end_positions=None, output_attentions=None, output_hidden_states=None,
             return_dict=None, training: bool = False, **kwargs):
        inputs = self.unpack_inputs(locals())
        encoded = self.encode(inputs, training)
        logits = self.qa_outputs(self.dropout(encoded.last_hidden_state, training=training))  # (B, T, 2)
        start_logits, end_logits = logits[..., 0], logits[..., 1]  # (B, T) each
        loss = None
        if inputs["start_positions"] is not None and inputs["end_positions"] is not None:
            loss = (span_loss(inputs["start_positions"], start_logits, "start_positions")
                    + span_loss(inputs["end_positions"], end_logits, "end_positions")) / 2.0  # (B,)
        return self.finish(TFQuestionAnsweringModelOutput, inputs, encoded, loss=loss,
                           start_logits=start_logits, end_logits=end_logits)


class TFDistilBertForMultipleChoice(TFDistilBertPreTrainedModel):
    """Inputs (B, C, T) are scored per choice through the [CLS] classifier path; logits (B, C), loss (B,)."""

    pytorch_class_name = "DistilBertForMultipleChoice"

    def __init__(self, config: DistilBertConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.distilbert = TFDistilBertMainLayer(config, name="distilbert")
        self.pre_classifier = dense(config.dim, config, "pre_classifier", config.dim)
        self.classifier = dense(1, config, "classifier", config.dim)
        self.dropout = keras.layers.Dropout(config.seq_classif_dropout)
        self.built = True

    def call(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None, labels=None,
             output_attentions=None, output_hidden_states=None, return_dict=None, training: bool = False,
             **kwargs):
        inputs = self.unpack_inputs(locals())
        reference = inputs["input_ids"] if inputs["input_ids"] is not None else inputs["inputs_embeds"]
        if reference is None or len(reference.shape) < 3:
            shape = None if reference is None else tuple(reference.shape)
            raise InputError(f"multiple choice needs inputs of shape (batch, choices, sequence), got {shape}")
        choices = reference.shape[1]
        for name, trailing in (("input_ids", 1), ("attention_mask", 1), ("inputs_embeds", 2), ("position_ids", 1)):
            if inputs[name] is not None:
                tensor = ops.convert_to_tensor(inputs[name])
                inputs[name] = ops.reshape(tensor, (-1, *tensor.shape[2:2 + trailing]))  # (B*C, T[, D])
        encoded = self.encode(inputs, training)
        pooled = encoded.last_hidden_state[:, 0]  # (B*C, D)
        pooled = self.dropout(ops.relu(self.pre_classifier(pooled)), training=training)  # (B*C, D)
        logits = ops.reshape(self.classifier(pooled), (-1, choices))  # (B, C)
        loss = None
        if inputs["labels"] is not None:
            labels = ops.convert_to_tensor(inputs["labels"])
            check_class_labels(labels, (logits.shape[0],), "labels", choices)
            loss = sparse_cross_entropy(ops.reshape(labels, (-1,)), logits)  # (B,)
        return self.finish(TFMultipleChoiceModelOutput, inputs, encoded, loss=loss, logits=logits)


# -- losses, per example as the reference's TensorFlow classes computed them ----------------------------------

def sparse_cross_entropy(labels, logits):
    """-log softmax(logits)[label] per row: labels (N,), logits (N, K) -> (N,)."""
    return ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def masked_token_loss(labels, logits, name: str):
    """Mean cross-entropy over the tokens whose label is not -100, as a (1,) tensor: labels (B, T), logits
    (B, T, K)."""
    labels = ops.convert_to_tensor(labels)
    check_class_labels(labels, tuple(logits.shape[:2]), name, logits.shape[-1])
    labels = ops.reshape(labels, (-1,))  # (B*T,)
    per_token = sparse_cross_entropy(ops.relu(labels), ops.reshape(logits, (-1, logits.shape[-1])))  # (B*T,)
    keep = ops.cast(ops.not_equal(labels, -100), per_token.dtype)
    return ops.reshape(ops.sum(per_token * keep) / ops.sum(keep), (1,))  # (1,)


def span_loss(positions, logits, name: str):
    """Cross-entropy of one span end per example; positions outside [0, T) are clamped and count zero."""
    positions = ops.reshape(ops.convert_to_tensor(positions), (-1,))  # (B,)
    if "float" in str(positions.dtype):
        raise InputError(f"{name} must hold integer token positions, got dtype {positions.dtype}")
    if positions.shape[0] is not None and logits.shape[0] is not None and positions.shape[0] != logits.shape[0]:
        raise InputError(f"{name} holds {positions.shape[0]} positions but the batch has {logits.shape[0]}")
    length = ops.shape(logits)[1]
    inside = ops.logical_and(ops.greater_equal(positions, 0), ops.less(positions, length))
    losses = sparse_cross_entropy(ops.clip(positions, 0, length - 1), logits)  # (B,)
    return losses * ops.cast(inside, losses.dtype)


def check_class_labels(labels, shape: tuple, name: str, num_classes: int | None) -> None:
    """Class-index labels: integer dtype, matching shape, values in range or -100 (ignored); the value check
    runs only where the labels are concrete (not while a graph is traced)."""
    if "float" in str(labels.dtype):
        raise InputError(f"{name} must hold integer class ids, got dtype {labels.dtype}")
    if None not in labels.shape and None not in shape and math.prod(labels.shape) != math.prod(shape):
        raise InputError(f"{name} has shape {tuple(labels.shape)}, expected {tuple(shape)}")
    values = eager_value(labels)
    if values is not None and num_classes is not None:
        valid = values[values != -100]
        if valid.size and (valid.min() < 0 or valid.max() >= num_classes):
            raise InputError(f"{name} contain {sorted(set(valid.tolist()))[:10]}, outside [0, {num_classes}) "
                             "(use -100 to ignore a position)")
