"""The BERT -> DistilBERT converter reproduces the BERT model (the reference library's BertModel on the original
files is the oracle), on tiny random BERTs and on the real all-MiniLM-L6-v2 encoder."""

import pytest
import torch
import transformers

from distilkit import DistilBertForMaskedLM, DistilBertModel
from distilkit.convert import convert
from distilkit.errors import CheckpointError, ConfigError

TINY_BERT = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                 max_position_embeddings=40, type_vocab_size=2)


def padded_batch(vocab_size, generator_seed=0):
    generator = torch.Generator().manual_seed(generator_seed)
    ids = torch.randint(1000 if vocab_size > 1000 else 1, vocab_size, (3, 12), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    mask[2, 3:] = 0
    return ids.masked_fill(mask == 0, 0), mask


def max_difference(reference, ours, mask):
    keep = mask.bool()
    return (reference[keep] - ours[keep]).abs().max().item()


def converted_difference(bert, our_class, source, output, vocab_size):
    """Convert `source` (where `bert` was saved), load it as `our_class`, and compare outputs on real tokens."""
    convert(source, output)
    ours = our_class.from_pretrained(output)
    assert ours.load_report.is_clean
    ids, mask = padded_batch(vocab_size)
    with torch.no_grad():
        expected = bert(input_ids=ids, attention_mask=mask)[0]  # last_hidden_state or MLM logits
        actual = ours(input_ids=ids, attention_mask=mask)[0]
    return max_difference(expected, actual, mask)


@pytest.mark.parametrize(("bert_class", "our_class", "reference_class"), [
    (transformers.BertModel, DistilBertModel, transformers.DistilBertModel),
    (transformers.BertForMaskedLM, DistilBertForMaskedLM, transformers.DistilBertForMaskedLM),
])
def test_tiny_bert(bert_class, our_class, reference_class, tmp_path):
    bert = bert_class(transformers.BertConfig(**TINY_BERT)).eval()
    embeddings = bert.embeddings if hasattr(bert, "embeddings") else bert.bert.embeddings
    torch.nn.init.normal_(embeddings.token_type_embeddings.weight)  # make segment 0 matter
    bert.save_pretrained(tmp_path / "bert")
    assert converted_difference(bert, our_class, tmp_path / "bert", tmp_path / "distil", 99) <= 1e-5
    # the converted files load in the reference's DistilBERT too, with nothing missing
    _, info = reference_class.from_pretrained(tmp_path / "distil", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_unconvertible_checkpoints_are_refused(tmp_path):
    config = transformers.BertConfig(**TINY_BERT, layer_norm_eps=1e-5)
    transformers.BertModel(config).save_pretrained(tmp_path / "eps")
    with pytest.raises(ConfigError, match="layer_norm_eps"):
        convert(tmp_path / "eps", tmp_path / "out")
    transformers.BertForSequenceClassification(transformers.BertConfig(**TINY_BERT)).save_pretrained(tmp_path / "cls")
    with pytest.raises(CheckpointError, match="classifier"):
        convert(tmp_path / "cls", tmp_path / "out2")


@pytest.mark.slow
def test_real_minilm_matches_bert(tmp_path):
    from distilkit.models.assets import minilm_dir

    source = minilm_dir()
    bert = transformers.BertModel.from_pretrained(source).eval()
    assert converted_difference(bert, DistilBertModel, source, tmp_path / "distil", 30522) <= 1e-5
