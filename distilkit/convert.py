"""Convert a BERT-architecture checkpoint (config.json + safetensors) into a DistilBERT checkpoint.

BERT maps exactly onto DistilBERT: DistilBERT has no segment embeddings, so `token_type_embeddings[0]` is added into
every row of the position embeddings (every token of a single-segment input gets exactly that sum in BERT); the
pooler is dropped; the other weights are renamed one to one. A masked-LM head (`cls.predictions.*`) becomes
DistilBERT's `vocab_transform` / `vocab_layer_norm` / `vocab_projector`. Any key the mapping does not know is an
error, so nothing is dropped silently. The result equals the BERT model's outputs for single-segment inputs.

    python -m distilkit.convert SOURCE_DIR OUTPUT_DIR
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import torch

from .checkpoint import find_weight_files, load_state_dict
from .configuration import ACTIVATIONS, DistilBertConfig, load_config_dict
from .errors import CheckpointError, ConfigError, DistilkitError
from .modeling import DistilBertForMaskedLM, DistilBertModel

# BERT key (inside one encoder layer) -> DistilBERT key
LAYER_RENAMES = {
    "attention.self.query": "attention.q_lin",
    "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin",
    "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm",
    "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2",
    "output.LayerNorm": "output_layer_norm",
}
HEAD_RENAMES = {
    "cls.predictions.transform.dense": "vocab_transform",
    "cls.predictions.transform.LayerNorm": "vocab_layer_norm",
    "cls.predictions.decoder": "vocab_projector",
}
DROPPED = ("pooler.", "embeddings.position_ids", "cls.seq_relationship.")
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def distilbert_config_from_bert(bert: dict) -> DistilBertConfig:
    """The DistilBERT config with the same sizes; refuses BERT variants the mapping cannot reproduce exactly."""
    if bert.get("model_type") != "bert":
        raise ConfigError(f"model_type={bert.get('model_type')!r}: only BERT checkpoints can be converted")
    if bert.get("layer_norm_eps", 1e-12) != 1e-12:
        raise ConfigError(f"layer_norm_eps={bert['layer_norm_eps']}: DistilBERT's LayerNorm eps is fixed at 1e-12, "
                          "so the converted model would not reproduce this one")
    if bert.get("position_embedding_type", "absolute") != "absolute":
        raise ConfigError(f"position_embedding_type={bert['position_embedding_type']!r}: only absolute positions map "
                          "onto DistilBERT")
    activation = bert.get("hidden_act", "gelu")
    if activation not in ACTIVATIONS:
        raise ConfigError(f"hidden_act={activation!r} is not one of {', '.join(ACTIVATIONS)}")
    return DistilBertConfig(
        vocab_size=bert["vocab_size"],
        max_position_embeddings=bert.get("max_position_embeddings", 512),
        n_layers=bert["num_hidden_layers"],
        n_heads=bert["num_attention_heads"],
        dim=bert["hidden_size"],
        hidden_dim=bert["intermediate_size"],
        dropout=bert.get("hidden_dropout_prob", 0.1),
        attention_dropout=bert.get("attention_probs_dropout_prob", 0.1),
        activation=activation,
        initializer_range=bert.get("initializer_range", 0.02),
        pad_token_id=bert.get("pad_token_id", 0),
    )


def rename_bert_key(key: str) -> str | None:
    """The DistilBERT key for a BERT key (without the `bert.` prefix), None for keys that are dropped."""
    if key.startswith(DROPPED) or key == "embeddings.token_type_embeddings.weight":
        return None
    for old, new in HEAD_RENAMES.items():
        if key.startswith(old + "."):
            return new + key[len(old):]
    if key == "cls.predictions.bias":
        return "vocab_projector.bias"
    if key.startswith("embeddings."):
        return key
    match = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)", key)
    if match:
        layer, module, kind = match.groups()
        if module in LAYER_RENAMES:
            return f"transformer.layer.{layer}.{LAYER_RENAMES[module]}.{kind}"
    raise CheckpointError(f"the BERT checkpoint has a key {key!r} that has no DistilBERT counterpart; "
                          "is it a plain BERT encoder (optionally with a masked-LM head)?")


def convert_state_dict(bert_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BERT weights -> DistilBERT weights (base-model keys; head keys when a masked-LM head is present)."""
    state = {key.removeprefix("bert."): value for key, value in bert_state.items()}
    state = {key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): value
             for key, value in state.items()}
    token_types = state.get("embeddings.token_type_embeddings.weight")
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new_key = rename_bert_key(key)
        if new_key is not None:
            converted[new_key] = value
    if token_types is not None:
        # segment 0 is what every token of a single-segment input gets, so it folds into the positions
        converted["embeddings.position_embeddings.weight"] = (
            converted["embeddings.position_embeddings.weight"] + token_types[0]
        )
    return converted


def convert(source: str | Path, output: str | Path, *, allow_pickle: bool = False) -> Path:
    """Convert the BERT checkpoint in `source` into a DistilBERT checkpoint (with tokenizer files) in `output`."""
    source, output = Path(source), Path(output)
    if not source.is_dir():
        raise CheckpointError(f"{str(source)!r} is not a directory holding a BERT config.json and weights")
    print(f"[distilkit.convert] reading {source}", file=sys.stderr)
    config = distilbert_config_from_bert(load_config_dict(source / "config.json"))
    state = convert_state_dict(load_state_dict(find_weight_files(source, allow_pickle=allow_pickle),
                                               allow_pickle=allow_pickle))
    has_head = any(key.startswith("vocab_") for key in state)
    model_class = DistilBertForMaskedLM if has_head else DistilBertModel
    if has_head:
        state = {(key if key.startswith("vocab_") else f"distilbert.{key}"): value for key, value in state.items()}
    model = model_class(config)
    model.load_checkpoint_state(state, source=str(source))
    print(f"[distilkit.convert] writing {model_class.__name__} to {output}", file=sys.stderr)
    model.save_pretrained(output)
    copy_tokenizer_files(source, output)
    return output


def copy_tokenizer_files(source: Path, output: Path) -> None:
    """Tokenizer files travel with the model; the tokenizer class is recorded as DistilBERT's."""
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, output / name)
    settings_path = output / "tokenizer_config.json"
    settings = json.loads(settings_path.read_text(encoding="utf-8")) if settings_path.is_file() else {}
    settings["tokenizer_class"] = "DistilBertTokenizer"
    settings.pop("name_or_path", None)
    settings_path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="distilkit convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="directory with a BERT config.json and model.safetensors")
    parser.add_argument("output", help="directory to write the DistilBERT checkpoint into")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="accept a pytorch_model.bin (loaded with torch.load(weights_only=True) only)")
    arguments = parser.parse_args(argv)
    try:
        convert(arguments.source, arguments.output, allow_pickle=arguments.allow_pickle)
    except DistilkitError as error:
        print(f"distilkit convert: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
