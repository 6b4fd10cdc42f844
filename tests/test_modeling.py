"""Behaviour of the DistilBERT models on their own: outputs, padding, attention paths, losses, training."""

import pytest
import torch

from distilkit import modeling
from distilkit.configuration import DistilBertConfig
from distilkit.errors import InputError

HEADS = [
    modeling.DistilBertForMaskedLM,
    modeling.DistilBertForSequenceClassification,
    modeling.DistilBertForTokenClassification,
    modeling.DistilBertForQuestionAnswering,
]
ALL = [modeling.DistilBertModel, *HEADS, modeling.DistilBertForMultipleChoice]


def first_tensor(output):
    return output[0]


@pytest.mark.parametrize("model_class", [modeling.DistilBertModel, *HEADS])
def test_padded_batch_equals_single_rows(model_class, tiny_kwargs):
    model = model_class(DistilBertConfig(**tiny_kwargs)).eval()
    rows = [torch.randint(1, 99, (length,)) for length in (7, 3, 5)]
    ids = torch.zeros(3, 7, dtype=torch.long)
    mask = torch.zeros(3, 7, dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = row
        mask[index, : len(row)] = 1
    with torch.no_grad():
        batched = first_tensor(model(input_ids=ids, attention_mask=mask))
        for index, row in enumerate(rows):
            single = first_tensor(model(input_ids=row[None]))
            if batched.dim() == 3:  # per-token outputs: compare the real tokens only
                assert torch.allclose(batched[index, : len(row)], single[0], atol=1e-5)
            elif batched.shape[-1] == 7:  # QA start logits (B, T)
                assert torch.allclose(batched[index, : len(row)], single[0], atol=1e-5)
            else:
                assert torch.allclose(batched[index], single[0], atol=1e-5)


@pytest.mark.parametrize("model_class", ALL)
def test_eager_and_sdpa_agree(model_class, tiny_kwargs):
    model = model_class(DistilBertConfig(**tiny_kwargs)).eval()
    ids = torch.randint(1, 99, (2, 2, 6)) if model_class is modeling.DistilBertForMultipleChoice \
        else torch.randint(1, 99, (2, 6))
    mask = torch.ones_like(ids)
    mask[..., 0, 4:] = 0
    with torch.no_grad():
        sdpa = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        model.set_attn_implementation("eager")
        eager = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    for left, right in zip(sdpa.hidden_states, eager.hidden_states, strict=True):
        assert (left - right).abs().max() <= 1e-5
    assert (sdpa[0] - eager[0]).abs().max() <= 1e-5


def test_output_structure(tiny_kwargs):
    model = modeling.DistilBertForSequenceClassification(DistilBertConfig(**tiny_kwargs)).eval()
    ids = torch.randint(1, 99, (2, 5))
    output = model(input_ids=ids, output_hidden_states=True, output_attentions=True)
    assert output.loss is None and "loss" not in output.keys()
    with pytest.raises(KeyError):
        output["loss"]
    assert output[0] is output.logits
    assert len(output.hidden_states) == tiny_kwargs["n_layers"] + 1
    assert len(output.attentions) == tiny_kwargs["n_layers"]
    assert output.attentions[0].shape == (2, tiny_kwargs["n_heads"], 5, 5)
    assert torch.allclose(output.attentions[0].sum(-1), torch.ones(2, tiny_kwargs["n_heads"], 5))
    with_labels = model(input_ids=ids, labels=torch.tensor([1, 0]))
    assert with_labels[0] is with_labels.loss and with_labels.loss.dim() == 0
    as_tuple = model(input_ids=ids, return_dict=False, output_hidden_states=True)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    assert torch.allclose(as_tuple[0], output.logits, atol=1e-6)  # SDPA vs the eager path of the first call
    assert dict(**output).keys() == set(output.keys())


def test_base_model_tuple_and_config_flags(tiny_kwargs):
    config = DistilBertConfig(**tiny_kwargs, output_hidden_states=True)
    model = modeling.DistilBertModel(config).eval()
    output = model(input_ids=torch.randint(1, 99, (1, 4)), return_dict=False)
    assert len(output) == 2 and len(output[1]) == tiny_kwargs["n_layers"] + 1
    assert torch.equal(output[1][-1], output[0])


def test_degenerate_masks_stay_finite(tiny_kwargs):
    model = modeling.DistilBertModel(DistilBertConfig(**tiny_kwargs)).eval()
    ids = torch.randint(1, 99, (2, 4))
    mask = torch.tensor([[0, 0, 0, 0], [1, 1, 1, 1]])
    for implementation in ("sdpa", "eager"):
        model.set_attn_implementation(implementation)
        assert torch.isfinite(model(input_ids=ids, attention_mask=mask).last_hidden_state).all()
    assert torch.isfinite(model(input_ids=ids[:, :1]).last_hidden_state).all()


def test_multiple_choice_accepts_non_contiguous(tiny_kwargs):
    model = modeling.DistilBertForMultipleChoice(DistilBertConfig(**tiny_kwargs)).eval()
    ids = torch.randint(1, 99, (3, 6))
    expanded = ids.unsqueeze(0).expand(2, 3, 6)  # a view with a zero stride
    assert not expanded.is_contiguous()
    logits = model(input_ids=expanded).logits
    assert logits.shape == (2, 3)
    assert torch.allclose(logits, model(input_ids=expanded.contiguous()).logits)


def test_losses_follow_problem_types(tiny_kwargs):
    ids = torch.randint(1, 99, (4, 5))
    regression = modeling.DistilBertForSequenceClassification(DistilBertConfig(**tiny_kwargs, num_labels=1))
    targets = torch.randn(4)
    output = regression(input_ids=ids, labels=targets)
    assert regression.config.problem_type == "regression"
    assert output.logits.shape == (4, 1)
    assert torch.allclose(output.loss, ((output.logits[:, 0] - targets) ** 2).mean())
    single = modeling.DistilBertForSequenceClassification(DistilBertConfig(**tiny_kwargs, num_labels=3)).eval()
    labels = torch.tensor([0, 2, 1, -100])
    output = single(input_ids=ids, labels=labels)
    assert single.config.problem_type == "single_label_classification"
    expected = torch.nn.functional.cross_entropy(output.logits[:3], labels[:3])
    assert torch.allclose(output.loss, expected)
    multi = modeling.DistilBertForSequenceClassification(DistilBertConfig(**tiny_kwargs, num_labels=3)).eval()
    targets = torch.tensor([[1.0, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]])
    output = multi(input_ids=ids, labels=targets)
    assert multi.config.problem_type == "multi_label_classification"
    assert torch.allclose(output.loss, torch.nn.functional.binary_cross_entropy_with_logits(output.logits, targets))


def test_question_answering_ignores_out_of_window_positions(tiny_kwargs):
    model = modeling.DistilBertForQuestionAnswering(DistilBertConfig(**tiny_kwargs)).eval()
    ids = torch.randint(1, 99, (2, 6))
    inside = model(input_ids=ids[:1], start_positions=torch.tensor([1]), end_positions=torch.tensor([2])).loss
    mixed = model(input_ids=ids[:1].repeat(2, 1), start_positions=torch.tensor([1, 50]),
                  end_positions=torch.tensor([2, 60])).loss
    assert torch.allclose(inside, mixed)  # the clamped row is ignored by the loss
    assert torch.isfinite(mixed)


@pytest.mark.parametrize("model_class", ALL)
def test_training_step_overfits_one_batch(model_class, tiny_kwargs):
    config = DistilBertConfig(**tiny_kwargs, dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0,
                              qa_dropout=0.0)
    model = model_class(config).train()
    ids = torch.randint(1, 99, (4, 6))
    if model_class is modeling.DistilBertModel:
        labels = {}
    elif model_class is modeling.DistilBertForMultipleChoice:
        ids = torch.randint(1, 99, (2, 3, 6))
        labels = {"labels": torch.tensor([0, 2])}
    elif model_class is modeling.DistilBertForQuestionAnswering:
        labels = {"start_positions": torch.tensor([1, 2, 3, 0]), "end_positions": torch.tensor([2, 2, 5, 0])}
    elif model_class is modeling.DistilBertForSequenceClassification:
        labels = {"labels": torch.tensor([0, 1, 1, 0])}
    else:
        labels = {"labels": ids.clone() if model_class is modeling.DistilBertForMaskedLM
                  else torch.randint(0, 2, (4, 6))}
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    target = torch.randn(4, 6, tiny_kwargs["dim"])

    def loss_of():
        output = model(input_ids=ids, **labels)
        return (output.last_hidden_state - target).pow(2).mean() if not labels else output.loss

    first = loss_of()
    first.backward()
    missing_grads = [name for name, parameter in model.named_parameters()
                     if parameter.grad is None and "word_embeddings" not in name]
    assert not missing_grads
    optimizer.step()
    for _ in range(20):
        optimizer.zero_grad()
        loss = loss_of()
        loss.backward()
        optimizer.step()
    assert loss.item() < first.item() * 0.7


def test_masked_lm_weights_are_tied(tiny_kwargs):
    model = modeling.DistilBertForMaskedLM(DistilBertConfig(**tiny_kwargs))
    assert model.vocab_projector.weight is model.distilbert.embeddings.word_embeddings.weight
    untied = modeling.DistilBertForMaskedLM(DistilBertConfig(**tiny_kwargs, tie_word_embeddings=False))
    assert untied.vocab_projector.weight is not untied.distilbert.embeddings.word_embeddings.weight


def test_resize_token_embeddings(tiny_kwargs):
    model = modeling.DistilBertForMaskedLM(DistilBertConfig(**tiny_kwargs)).eval()
    ids = torch.randint(1, 99, (1, 5))
    before = model(input_ids=ids).logits
    model.resize_token_embeddings(105)
    after = model(input_ids=ids).logits
    assert after.shape[-1] == 105 and model.config.vocab_size == 105
    assert torch.allclose(before, after[..., :99], atol=1e-6)
    assert model.weights_are_tied


def test_chunked_feed_forward_is_identical(tiny_kwargs):
    plain = modeling.DistilBertModel(DistilBertConfig(**tiny_kwargs)).eval()
    chunked = modeling.DistilBertModel(DistilBertConfig(**tiny_kwargs, chunk_size_feed_forward=2)).eval()
    chunked.load_state_dict(plain.state_dict())
    ids = torch.randint(1, 99, (2, 7))
    assert torch.allclose(plain(input_ids=ids)[0], chunked(input_ids=ids)[0], atol=1e-6)


def test_gradient_checkpointing_gives_same_gradients(tiny_kwargs):
    config = DistilBertConfig(**tiny_kwargs, dropout=0.0, attention_dropout=0.0)
    model = modeling.DistilBertModel(config).train()
    ids = torch.randint(1, 99, (2, 5))
    model(input_ids=ids).last_hidden_state.sum().backward()
    expected = [parameter.grad.clone() for parameter in model.parameters()]
    model.zero_grad()
    model.gradient_checkpointing_enable()
    model(input_ids=ids).last_hidden_state.sum().backward()
    for left, parameter in zip(expected, model.parameters(), strict=True):
        assert torch.allclose(left, parameter.grad, atol=1e-6)


def test_torch_export_smoke(tiny_kwargs):
    model = modeling.DistilBertForSequenceClassification(DistilBertConfig(**tiny_kwargs)).eval()
    ids = torch.randint(1, 99, (2, 5))
    exported = torch.export.export(model, (), {"input_ids": ids})
    assert torch.allclose(exported.module()(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of input_ids and inputs_embeds"),
        ({"input_ids": torch.ones(1, 3, dtype=torch.long), "inputs_embeds": torch.ones(1, 3, 32)}, "exactly one"),
        ({"input_ids": torch.tensor([[1, 99]])}, "outside the vocabulary"),
        ({"input_ids": torch.tensor([[1, -3]])}, "outside the vocabulary"),
        ({"input_ids": torch.ones(1, 41, dtype=torch.long)}, "at most 40"),
        ({"input_ids": [[1, 2]]}, "must be a torch.Tensor"),
        ({"input_ids": torch.ones(1, 3)}, "integer ids"),
        ({"input_ids": torch.ones(3, dtype=torch.long)}, "shape"),
        ({"input_ids": torch.ones(1, 3, dtype=torch.long), "attention_mask": torch.ones(1, 4)}, "attention_mask"),
        ({"input_ids": torch.ones(1, 3, dtype=torch.long), "bogus": 1}, "unexpected model inputs"),
    ],
)
def test_bad_inputs_get_clear_errors(kwargs, message, tiny_kwargs):
    model = modeling.DistilBertModel(DistilBertConfig(**tiny_kwargs))
    with pytest.raises(InputError, match=message):
        model(**kwargs)


def test_bad_labels_get_clear_errors(tiny_kwargs):
    ids = torch.randint(1, 99, (2, 4))
    classifier = modeling.DistilBertForSequenceClassification(DistilBertConfig(**tiny_kwargs, num_labels=3))
    with pytest.raises(InputError, match="outside"):
        classifier(input_ids=ids, labels=torch.tensor([0, 7]))
    tagger = modeling.DistilBertForTokenClassification(DistilBertConfig(**tiny_kwargs))
    with pytest.raises(InputError, match="integer class ids"):
        tagger(input_ids=ids, labels=torch.zeros(2, 4))
    with pytest.raises(InputError, match="outside"):
        tagger(input_ids=ids, labels=torch.full((2, 4), 5))


def test_token_type_ids_are_accepted_and_ignored(tiny_kwargs):
    model = modeling.DistilBertModel(DistilBertConfig(**tiny_kwargs)).eval()
    ids = torch.randint(1, 99, (1, 4))
    assert torch.equal(model(input_ids=ids)[0], model(input_ids=ids, token_type_ids=torch.ones_like(ids))[0])
