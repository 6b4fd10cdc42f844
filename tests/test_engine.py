"""The inference engine: packed execution equals the padded path, int8 stays close to float32 and saves as
safetensors, the thread setting and the one-forward-at-a-time compute section hold."""

from __future__ import annotations

import json
import threading

import pytest
import torch
from safetensors import safe_open

from distilkit import (
    AutoModelForSequenceClassification,
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForMultipleChoice,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from distilkit.errors import ConfigError, InputError
from distilkit.modeling.quantization import Int8Linear
from distilkit.pipelines import pipeline
from distilkit.tokenization import DistilBertTokenizerFast

CLASSES = [DistilBertModel, DistilBertForMaskedLM, DistilBertForSequenceClassification,
           DistilBertForTokenClassification, DistilBertForQuestionAnswering, DistilBertForMultipleChoice]


def tiny_config(**overrides) -> DistilBertConfig:
    settings = dict(vocab_size=120, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=512,
                    num_labels=2)
    return DistilBertConfig(**{**settings, **overrides})


def random_batch(generator: torch.Generator, batch: int, longest: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and mask with random lengths in 1..longest (the longest row reaching it)."""
    lengths = torch.randint(1, longest + 1, (batch,), generator=generator)
    lengths[torch.randint(0, batch, (1,), generator=generator)] = longest
    mask = (torch.arange(longest)[None] < lengths[:, None]).long()  # (B, T)
    ids = torch.randint(1, 120, (batch, longest), generator=generator) * mask
    return ids, mask


def largest(values: torch.Tensor) -> float:
    """max |value|, 0 for an empty selection."""
    return float(values.abs().max()) if values.numel() else 0.0


def real_positions_differ(padded: torch.Tensor, packed: torch.Tensor, keep: torch.Tensor) -> float:
    """Largest difference over real positions of a (B, T, ...) output."""
    return float((padded - packed).abs()[keep].max())


@pytest.mark.parametrize("model_class", CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize(("batch", "longest", "implementation"),
                         [(1, 1, "sdpa"), (7, 37, "sdpa"), (64, 23, "sdpa"), (3, 512, "sdpa"), (9, 40, "eager")])
def test_packed_equals_padded(model_class, batch, longest, implementation):
    torch.manual_seed(0)
    model = model_class(tiny_config(chunk_size_feed_forward=5 if longest == 37 else 0))
    model.set_attn_implementation(implementation)
    model.eval()
    generator = torch.Generator().manual_seed(batch * 1000 + longest)
    ids, mask = random_batch(generator, batch, longest)
    if model_class is DistilBertForMultipleChoice:
        ids, mask = ids.unsqueeze(1), mask.unsqueeze(1)  # (B, 1, T): one choice per question
    keep = mask.reshape(-1, longest).bool()  # (B', T)
    flags = dict(output_hidden_states=True, output_attentions=longest <= 64)
    with torch.inference_mode():
        padded = model(input_ids=ids, attention_mask=mask, **flags)
        packed = model(input_ids=ids, attention_mask=mask, packed=True, **flags)
    for name in padded.keys():
        if name in ("hidden_states", "attentions"):
            continue
        expected, actual = padded[name], packed[name]
        if expected.dim() >= 2 and expected.shape[:2] == keep.shape:  # per-token outputs
            assert real_positions_differ(expected, actual, keep) <= 1e-5, name
            assert largest(actual[~keep]) == 0.0, f"{name} not zero at padding"
        else:
            assert float((expected - actual).abs().max()) <= 1e-5, name
    for expected, actual in zip(padded.hidden_states, packed.hidden_states, strict=True):
        assert real_positions_differ(expected, actual, keep) <= 1e-5
    if flags["output_attentions"]:
        pair = keep[:, None, :, None] & keep[:, None, None, :]  # (B, 1, T, T): real query and real key
        for expected, actual in zip(padded.attentions, packed.attentions, strict=True):
            pair_all = pair.expand_as(expected)
            assert float((expected - actual).abs()[pair_all].max()) <= 1e-5
            assert largest(actual[~pair_all]) <= 1e-12  # zero at padded queries and keys


def test_packed_without_padding_and_without_mask():
    torch.manual_seed(1)
    model = DistilBertForTokenClassification(tiny_config()).eval()
    ids = torch.randint(1, 120, (4, 16))
    with torch.inference_mode():
        padded = model(input_ids=ids).logits
        assert torch.equal(model(input_ids=ids, packed=True).logits, padded)
        embeds = model.distilbert.embeddings.word_embeddings(ids)
        assert torch.allclose(model(inputs_embeds=embeds, packed=True).logits, padded, atol=1e-6)


def test_packed_refuses_left_padding_and_empty_rows():
    model = DistilBertModel(tiny_config()).eval()
    ids = torch.randint(1, 120, (2, 5))
    with pytest.raises(InputError, match="right-padded"):
        model(input_ids=ids, attention_mask=torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]]), packed=True)
    with pytest.raises(InputError, match="no real token"):
        model(input_ids=ids, attention_mask=torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]), packed=True)
    qa = DistilBertForQuestionAnswering(tiny_config())
    with pytest.raises(InputError, match="packed=False"):
        qa(input_ids=ids, packed=True, start_positions=torch.tensor([1, 2]), end_positions=torch.tensor([2, 3]))


def test_packed_training_gives_the_padded_gradients():
    torch.manual_seed(2)
    model = DistilBertForSequenceClassification(tiny_config(dropout=0.0, attention_dropout=0.0,
                                                            seq_classif_dropout=0.0))
    ids, mask = random_batch(torch.Generator().manual_seed(3), 6, 19)
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    gradients = []
    for packed in (False, True):
        model.zero_grad()
        model(input_ids=ids, attention_mask=mask, labels=labels, packed=packed).loss.backward()
        gradients.append(model.distilbert.transformer.layer[0].ffn.lin1.weight.grad.clone())
    assert torch.allclose(gradients[0], gradients[1], atol=1e-6)


# -- pipelines on the packed path ----------------------------------------------------------------------------


WORDS = "the a cat dog sat on mat hello world b c d e f g h".split()


@pytest.fixture(scope="module")
def classifier_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine-classifier")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)}).save_pretrained(folder)
    torch.manual_seed(4)
    config = tiny_config(id2label={0: "NEGATIVE", 1: "POSITIVE", 2: "NEUTRAL"})
    DistilBertForSequenceClassification(config).save_pretrained(folder)
    return folder


SENTENCES = ["the cat sat on the mat", "a dog", "hello world " * 30, "the the the", "cat", "a b c d e f g h"] * 5


def test_pipelines_run_packed_with_the_padded_results(classifier_folder):
    packed = pipeline("text-classification", model=classifier_folder, top_k=None)
    padded = pipeline("text-classification", model=classifier_folder, top_k=None, packed=False)
    assert packed.packed and not padded.packed
    for batch_size in (1, 7, 64):
        for mine, theirs in zip(packed(SENTENCES, batch_size=batch_size), padded(SENTENCES, batch_size=4),
                                strict=True):
            assert [row["label"] for row in mine] == [row["label"] for row in theirs]
            assert max(abs(a["score"] - b["score"]) for a, b in zip(mine, theirs, strict=True)) <= 1e-6


def test_packed_option_needs_a_model_that_takes_it(classifier_folder):
    class Plain(torch.nn.Module):
        config = tiny_config()

        def forward(self, input_ids, attention_mask=None):
            return (torch.zeros(input_ids.size(0), 2),)

    assert pipeline("text-classification", model=Plain(), tokenizer=classifier_folder).packed is False
    with pytest.raises(InputError, match="packed=True needs"):
        pipeline("text-classification", model=Plain(), tokenizer=classifier_folder, packed=True)


# -- int8 ----------------------------------------------------------------------------------------------------


def test_int8_close_to_float32_and_only_encoder_linears():
    torch.manual_seed(5)
    model = DistilBertForTokenClassification(tiny_config(dim=64, hidden_dim=256, num_labels=5)).eval()
    ids, mask = random_batch(torch.Generator().manual_seed(6), 8, 30)
    keep = mask.bool()
    with torch.inference_mode():
        reference = model(input_ids=ids, attention_mask=mask).logits
        model.quantize("int8")
        quantized = model(input_ids=ids, attention_mask=mask, packed=True).logits
    swapped = [name for name, module in model.named_modules() if isinstance(module, Int8Linear)]
    assert len(swapped) == 2 * 6 and not any("classifier" in name for name in swapped)
    assert isinstance(model.classifier, torch.nn.Linear)
    # stated tolerance: 2% of the logits' range (per-row weight scales, 7-bit activations)
    error = float((reference - quantized).abs()[keep].max())
    assert error <= 0.02 * float(reference[keep].abs().max()), error
    assert (reference.argmax(-1) == quantized.argmax(-1))[keep].float().mean() >= 0.97
    with pytest.raises(ConfigError, match="already quantized"):
        model.quantize("int8")
    with pytest.raises(ConfigError, match="supported method"):
        DistilBertModel(tiny_config()).quantize("int4")


def test_int8_saves_as_safetensors_and_loads_back(tmp_path):
    torch.manual_seed(7)
    model = DistilBertForSequenceClassification(tiny_config()).eval().quantize("int8")
    model.save_pretrained(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    with safe_open(tmp_path / "model.safetensors", "pt") as weights:
        key = "distilbert.transformer.layer.0.attention.q_lin.weight"
        assert weights.get_slice(key).get_dtype() == "I8"
        assert weights.get_slice(key.replace(".weight", ".weight_scale")).get_dtype() == "F32"
    assert json.loads((tmp_path / "config.json").read_text())["quantization_config"]["quant_method"] == "int8_dynamic"
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    ids = torch.randint(1, 120, (3, 11))
    with torch.inference_mode():
        assert torch.equal(reloaded(input_ids=ids).logits, model(input_ids=ids).logits)


def test_int8_pipeline_and_its_errors(classifier_folder):
    fp32 = pipeline("text-classification", model=classifier_folder)
    int8 = pipeline("text-classification", model=classifier_folder, dtype="int8")
    assert int8.model.config.quantization_config is not None
    agree = sum(a["label"] == b["label"] for a, b in zip(int8(SENTENCES), fp32(SENTENCES), strict=True))
    assert agree >= len(SENTENCES) - 2
    with pytest.raises(InputError, match="CPU only"):
        pipeline("text-classification", model=classifier_folder, dtype="int8", device="meta")
    with pytest.raises(ConfigError, match="int8"):
        pipeline("text-classification", model=classifier_folder, dtype="int4")


# -- threads and the compute section -------------------------------------------------------------------------


class Recording(DistilBertForSequenceClassification):
    """Records the thread count and how many forwards run at once."""

    active = 0
    most_active = 0
    threads_seen: list[int] = []
    lock = threading.Lock()

    def forward(self, *args, **kwargs):
        with Recording.lock:
            Recording.active += 1
            Recording.most_active = max(Recording.most_active, Recording.active)
        Recording.threads_seen.append(torch.get_num_threads())
        try:
            threading.Event().wait(0.002)  # widen the window two unsynchronised forwards would share
            return super().forward(*args, **kwargs)
        finally:
            with Recording.lock:
                Recording.active -= 1


def test_threads_option_and_one_forward_at_a_time(classifier_folder):
    before = torch.get_num_threads()
    model = Recording.from_pretrained(classifier_folder)
    runners = [pipeline("text-classification", model=model, tokenizer=classifier_folder, threads=1),
               pipeline("text-classification", model=model, tokenizer=classifier_folder)]
    Recording.threads_seen.clear()
    runners[0](SENTENCES[:4])
    assert set(Recording.threads_seen) == {1} and torch.get_num_threads() == before
    workers = [threading.Thread(target=lambda runner=runner: runner(SENTENCES, batch_size=2)) for runner in runners]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert Recording.most_active == 1
    torch.set_num_threads(2)
    try:  # without threads=, torch's own setting
        Recording.threads_seen.clear()
        runners[1]("a dog")
        assert Recording.threads_seen == [2]
    finally:
        torch.set_num_threads(before)
    with pytest.raises(InputError, match="threads must be"):
        pipeline("text-classification", model=classifier_folder, threads=0)


def every_output(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    output = model(input_ids=ids, attention_mask=mask, output_hidden_states=True, packed=True)
    return [output.logits, *output.hidden_states]


@pytest.mark.parametrize("activation", ["gelu", "relu", "gelu_new"])
def test_onednn_linear_path_equals_the_modules_as_written(monkeypatch, activation):
    """The oneDNN kernel path (inference only) gives what the nn.Linear + activation modules give."""
    from distilkit.modeling import kernels

    if not kernels.ENABLED:
        pytest.fail("this torch build has no oneDNN linear; the CPU builds distilkit pins all have it")
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(tiny_config(activation=activation)).eval()
    ids, mask = random_batch(torch.Generator().manual_seed(1), 9, 30)
    calls = []
    real = kernels._LINEAR_POINTWISE

    def counting(*args):
        calls.append(args[3])
        return real(*args)

    monkeypatch.setattr(kernels, "_LINEAR_POINTWISE", counting)
    with torch.inference_mode():
        fused = every_output(model, ids, mask)
    assert int(mask.sum()) >= kernels.MIN_ROWS  # packed rows: enough for the fused path
    # the encoder Linears (6 per layer) take the oneDNN path, lin1 only with an activation it computes exactly;
    # GELU is applied after it (not fused: slower), ReLU is fused; pre_classifier's 9 rows stay on MKL's sgemm
    assert len(calls) == 2 * (5 if activation == "gelu_new" else 6) and calls.count("gelu") == 0
    assert calls.count("relu") == (2 if activation == "relu" else 0)
    monkeypatch.setattr(kernels, "ENABLED", False)
    calls.clear()
    with torch.inference_mode():
        written = every_output(model, ids, mask)
    assert calls == []
    for a, b in zip(fused, written, strict=True):
        assert largest(a - b) <= 1e-5


def test_onednn_linear_path_keeps_gradients_and_hooks():
    """Where gradients are recorded or a hook watches a layer, the modules run as written."""
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(tiny_config()).eval()
    ids, mask = random_batch(torch.Generator().manual_seed(2), 4, 12)
    embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    model(inputs_embeds=embeds, attention_mask=mask).logits.sum().backward()
    assert embeds.grad is not None and largest(embeds.grad) > 0
    assert model.distilbert.transformer.layer[0].ffn.lin1.weight.grad is not None

    seen = []
    model.distilbert.transformer.layer[1].attention.q_lin.register_forward_hook(
        lambda module, inputs, output: seen.append(tuple(output.shape)))
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=mask, packed=True)
    assert seen == [(int(mask.sum()), 32)]  # packed: one row per real token


# -- encoder weights packed for oneDNN -------------------------------------------------------------------------

def test_pipelines_pack_the_encoder_of_models_they_load_and_compute_the_same(classifier_folder, tmp_path):
    from distilkit.modeling.kernels import PackedLinear

    loaded = pipeline("text-classification", model=classifier_folder, top_k=None)
    layers = [module for module in loaded.model.modules() if isinstance(module, PackedLinear)]
    assert len(layers) == 6 * 2  # q/k/v/out + lin1/lin2 in each of the two blocks; the heads stay nn.Linear
    assert isinstance(loaded.model.pre_classifier, torch.nn.Linear)

    model = DistilBertForSequenceClassification.from_pretrained(classifier_folder)
    given = pipeline("text-classification", model=model, tokenizer=classifier_folder, top_k=None)
    assert not any(isinstance(module, PackedLinear) for module in given.model.modules())  # the caller's: as is
    for batch_size in (1, 7):
        for mine, theirs in zip(loaded(SENTENCES, batch_size=batch_size), given(SENTENCES, batch_size=4),
                                strict=True):
            assert max(abs(a["score"] - b["score"]) for a, b in zip(mine, theirs, strict=True)) <= 1e-6

    # state_dict and saving hold the dense weights: the saved checkpoint is the loaded one
    original = model.state_dict()
    packed_state = loaded.model.state_dict()
    assert list(packed_state) == list(original)
    assert all(torch.equal(packed_state[key], original[key]) for key in original)
    loaded.model.save_pretrained(tmp_path / "again")
    again = DistilBertForSequenceClassification.from_pretrained(tmp_path / "again")
    assert all(torch.equal(again.state_dict()[key], original[key]) for key in original)


def test_packed_layers_give_input_gradients_refuse_training_and_quantize(classifier_folder):
    from distilkit.modeling.kernels import PackedLinear

    packed = pipeline("text-classification", model=classifier_folder).model
    dense = DistilBertForSequenceClassification.from_pretrained(classifier_folder)
    ids, mask = random_batch(torch.Generator().manual_seed(3), 3, 9)
    gradients = []
    for model in (packed, dense):
        embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
        model(inputs_embeds=embeds, attention_mask=mask).logits[:, 1].sum().backward()
        gradients.append(embeds.grad)
    assert largest(gradients[0] - gradients[1]) <= 1e-5

    packed.train()
    with pytest.raises(InputError, match="packed for inference"):
        packed(input_ids=ids, attention_mask=mask)
    packed.eval()
    packed.quantize("int8")
    assert not any(isinstance(module, PackedLinear) for module in packed.modules())
    assert isinstance(packed.distilbert.transformer.layer[0].ffn.lin1, Int8Linear)


# -- Q, K and V as one GEMM ------------------------------------------------------------------------------------

def run_each_layer(monkeypatch) -> None:
    """From now on attention runs q_lin, k_lin and v_lin one by one (as written), not as their stack."""
    import distilkit.modeling.distilbert as distilbert

    monkeypatch.setattr(distilbert, "stacked_linear", lambda layers, hidden: None)


@pytest.mark.parametrize("kind", ["packed", "int8"])
def test_qkv_stack_gives_what_the_three_layers_give(monkeypatch, kind):
    from distilkit.modeling.kernels import PackedLinear, PackedStack, pack_linears
    from distilkit.modeling.quantization import Int8Stack

    torch.manual_seed(11)
    model = DistilBertForSequenceClassification(tiny_config()).eval()
    if kind == "packed":
        pack_linears(model)
    else:
        model.quantize("int8")
    attention = model.distilbert.transformer.layer[0].attention
    stack = attention.q_lin.group
    assert type(stack) is (PackedStack if kind == "packed" else Int8Stack)
    assert stack.members == (attention.q_lin, attention.k_lin, attention.v_lin)
    if kind == "packed":  # one packed copy of the weights: the stack's
        assert all(layer.packed_weight is None for layer in stack.members)
        assert isinstance(attention.out_lin, PackedLinear) and attention.out_lin.group is None
    ids, mask = random_batch(torch.Generator().manual_seed(12), 6, 25)
    calls = []
    real = type(stack).__call__
    monkeypatch.setattr(type(stack), "__call__", lambda self, hidden: calls.append(1) or real(self, hidden))
    with torch.inference_mode():
        stacked = every_output(model, ids, mask)
        padded = model(input_ids=ids, attention_mask=mask).logits
    assert len(calls) == 2 * 2  # both blocks, both layouts
    run_each_layer(monkeypatch)
    with torch.inference_mode():
        separate = every_output(model, ids, mask)
    for a, b in zip(stacked, separate, strict=True):
        assert largest(a - b) <= 1e-6
    assert largest(padded - separate[0]) <= 1e-5


@pytest.mark.parametrize("kind", ["packed", "int8"])
def test_qkv_stack_follows_loaded_weights_and_steps_aside_for_hooks(kind, tmp_path):
    from distilkit.modeling.kernels import pack_linears

    torch.manual_seed(13)
    first = DistilBertForSequenceClassification(tiny_config()).eval()
    torch.manual_seed(14)
    second = DistilBertForSequenceClassification(tiny_config()).eval()
    prepare = pack_linears if kind == "packed" else (lambda model: model.quantize("int8"))
    prepare(first)
    prepare(second)
    ids, mask = random_batch(torch.Generator().manual_seed(15), 4, 20)
    with torch.inference_mode():
        expected = second(input_ids=ids, attention_mask=mask, packed=True).logits
        before = first(input_ids=ids, attention_mask=mask, packed=True).logits
        assert largest(expected - before) > 1e-3
        first.load_state_dict(second.state_dict())  # the stack now holds the second model's Q, K and V
        assert largest(first(input_ids=ids, attention_mask=mask, packed=True).logits - expected) <= 1e-6
    if kind == "packed":  # each member's dense weight is its block of the stack's rows, bit for bit
        attention = first.distilbert.transformer.layer[1].attention
        other = second.distilbert.transformer.layer[1].attention
        assert torch.equal(attention.v_lin.weight, other.v_lin.weight)
        assert torch.equal(attention.k_lin.bias, other.k_lin.bias)

    seen = []
    first.distilbert.transformer.layer[0].attention.k_lin.register_forward_hook(
        lambda module, inputs, output: seen.append(tuple(output.shape)))
    with torch.inference_mode():
        hooked = first(input_ids=ids, attention_mask=mask, packed=True).logits
    assert seen == [(int(mask.sum()), 32)]  # the hooked layer ran on its own
    assert largest(hooked - expected) <= 1e-5


def test_int8_gelu_in_place_equals_the_activation_module(monkeypatch):
    from distilkit.modeling import kernels

    torch.manual_seed(16)
    model = DistilBertForSequenceClassification(tiny_config()).eval().quantize("int8")
    ids, mask = random_batch(torch.Generator().manual_seed(17), 5, 22)
    calls = []
    real = kernels._GELU_
    monkeypatch.setattr(kernels, "_GELU_", lambda tensor: calls.append(1) or real(tensor))
    with torch.inference_mode():
        in_place = every_output(model, ids, mask)
    assert len(calls) == 2  # lin1 of each block
    monkeypatch.setattr(kernels, "ENABLED", False)  # the modules as written: Int8Linear, then GELUActivation
    with torch.inference_mode():
        written = every_output(model, ids, mask)
    assert len(calls) == 2
    for a, b in zip(in_place, written, strict=True):
        assert largest(a - b) <= 1e-6


def test_a_packed_model_deep_copies(classifier_folder):
    import copy

    model = pipeline("text-classification", model=classifier_folder).model
    twin = copy.deepcopy(model)
    stack = twin.distilbert.transformer.layer[0].attention.q_lin.group
    assert stack is not model.distilbert.transformer.layer[0].attention.q_lin.group
    assert stack.members[1] is twin.distilbert.transformer.layer[0].attention.k_lin
    ids, mask = random_batch(torch.Generator().manual_seed(18), 3, 11)
    with torch.inference_mode():
        expected = model(input_ids=ids, attention_mask=mask, packed=True).logits
        assert largest(twin(input_ids=ids, attention_mask=mask, packed=True).logits - expected) == 0
        twin.load_state_dict({key: value * 0 for key, value in twin.state_dict().items()})  # the copy only
        assert largest(model(input_ids=ids, attention_mask=mask, packed=True).logits - expected) == 0
