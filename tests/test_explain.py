"""distilkit.explain: attention maps against the eager path and the reference, integrated gradients against
Captum's LayerIntegratedGradients (the test oracle) on every head, completeness, pipeline(..., explain=True),
pictures, the HTML report in a real browser, the command and bad inputs."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import transformers
from browser import browser, page  # noqa: F401  (pytest fixtures)
from captum.attr import LayerIntegratedGradients

from distilkit import (
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
    explain,
)
from distilkit.cli import main
from distilkit.errors import InputError
from distilkit.pipelines import pipeline
from distilkit.tokenization import DistilBertTokenizerFast

WORDS = ("the a is was in on of and to cat dog sat mat john paris france lives city river un ##aff ##able ##s "
         "hello world . , ? ! where who film witty gorgeous dull long").split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
# a larger init than the default 0.02 so that a random tiny model's logits depend visibly on its input
SIZES = dict(vocab_size=len(VOCAB), dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64,
             initializer_range=0.3)
TEXT = "hello world , the dog lives in paris , france !"
SENTENCES = ["the cat sat on the mat", TEXT, "john lives in the city of paris on a river . the mat .",
             "a witty film", "dull , long and unaffable", "who was the dog ?"]
CAPTUM_TOLERANCE = 1e-4


def tokenizer():
    return DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(VOCAB)})


def model(cls=DistilBertForSequenceClassification, **config):
    torch.manual_seed(0)
    return cls(DistilBertConfig(**SIZES, **config)).eval()


def classifier():
    return model(id2label={0: "NEGATIVE", 1: "POSITIVE"})


def captum_scores(forward, layer, text, text_pair=None, n_steps=50, method="gausslegendre", batch=None):
    """Captum's LayerIntegratedGradients with the [CLS] [PAD] ... [SEP] baseline: (scores (T,), delta)."""
    encoding = tokenizer()(text, text_pair, return_tensors="pt", return_special_tokens_mask=True)
    ids = encoding["input_ids"]
    baseline = ids.masked_fill(encoding["special_tokens_mask"] == 0, tokenizer().pad_token_id)
    oracle = LayerIntegratedGradients(forward, layer)
    scores, delta = oracle.attribute(ids, baseline, additional_forward_args=(encoding["attention_mask"],),
                                     n_steps=n_steps, method=method, internal_batch_size=batch,
                                     return_convergence_delta=True)
    return scores.sum(-1)[0].detach().numpy(), float(delta)


# -- attention -------------------------------------------------------------------------------------------------


def test_attention_equals_the_eager_probabilities_of_ours_and_the_reference(tmp_path):
    ours = classifier()
    ours.save_pretrained(tmp_path)
    reference = transformers.DistilBertForSequenceClassification.from_pretrained(
        tmp_path, attn_implementation="eager").eval()
    maps = explain.attention(ours, tokenizer(), TEXT)  # the model runs under SDPA by default
    ids = tokenizer()(TEXT, return_tensors="pt")
    with torch.no_grad():
        expected = torch.stack(reference(**ids, output_attentions=True).attentions)[:, 0].numpy()
        ours.set_attn_implementation("eager")
        eager = torch.stack(ours(**ids, output_attentions=True).attentions)[:, 0].numpy()
    assert maps.weights.shape == (2, 4, len(maps.tokens), len(maps.tokens))
    assert maps.tokens == ["[CLS]", *TEXT.split(), "[SEP]"]
    assert np.abs(maps.weights - expected).max() <= 1e-5
    assert np.abs(maps.weights - eager).max() <= 1e-5
    np.testing.assert_allclose(maps.weights.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("dtype", [None, "int8"])
def test_attention_through_a_pipeline_equals_the_eager_path_of_its_model(dtype):
    runner = pipeline("text-classification", model=classifier(), tokenizer=tokenizer(), dtype=dtype)
    assert runner.model_options == {"packed": True}  # the pipeline's forward runs packed (and int8 if asked)
    maps = explain.attention(runner, TEXT)
    runner.model.set_attn_implementation("eager")
    with torch.no_grad():
        outputs = runner.model(**tokenizer()(TEXT, return_tensors="pt"), output_attentions=True)
    expected = torch.stack(outputs.attentions)[:, 0].numpy()
    assert np.abs(maps.weights - expected).max() <= 1e-5
    if dtype == "int8":
        with pytest.raises(InputError, match="quantized model .int8_dynamic. does not have"):
            runner(TEXT, explain=True)


def test_attention_rollout_follows_its_definition():
    maps = explain.attention(model(DistilBertModel), tokenizer(), TEXT)
    size = len(maps.tokens)
    flow = np.eye(size)
    for layer in maps.weights.astype(np.float64):
        mixed = 0.5 * layer.mean(0) + 0.5 * np.eye(size)
        flow = (mixed / mixed.sum(-1, keepdims=True)) @ flow
    np.testing.assert_allclose(maps.rollout(), flow, atol=1e-6)
    np.testing.assert_allclose(maps.rollout().sum(-1), 1.0, atol=1e-5)
    assert maps.head(1, 3).shape == (size, size)
    np.testing.assert_array_equal(maps.layer(1)[3], maps.weights[1, 3])


# -- integrated gradients against Captum -----------------------------------------------------------------------


@pytest.mark.parametrize(("method", "n_steps", "batch"), [("gausslegendre", 50, None), ("gausslegendre", 23, 7),
                                                          ("riemann_right", 30, 8), ("riemann_left", 30, None),
                                                          ("riemann_middle", 17, 5)])
def test_sequence_classification_equals_captum(method, n_steps, batch):
    ours = classifier()
    result = explain.attributions(ours, tokenizer(), TEXT, n_steps=n_steps, method=method,
                                  internal_batch_size=batch or 50)
    index = result.details["index"]
    expected, delta = captum_scores(lambda ids, mask: ours(input_ids=ids, attention_mask=mask).logits[:, index],
                                    ours.distilbert.embeddings, TEXT, n_steps=n_steps, method=method, batch=batch)
    assert result.target == ours.config.id2label[index]
    assert np.abs(result.scores - expected).max() <= CAPTUM_TOLERANCE
    assert abs(result.delta - delta) <= CAPTUM_TOLERANCE


def test_trapezoid_rule_is_exact_where_captum_scales_it_by_n_minus_1_over_n():
    # Captum weights linspace(0, 1, n) by 1/n (halved at both ends), which sums to (n-1)/n, not 1; ours is the
    # trapezoid rule, so Captum's scores are ours times (n-1)/n
    ours, n_steps = classifier(), 20
    result = explain.attributions(ours, tokenizer(), TEXT, n_steps=n_steps, method="riemann_trapezoid", target=1)
    expected, _ = captum_scores(lambda ids, mask: ours(input_ids=ids, attention_mask=mask).logits[:, 1],
                                ours.distilbert.embeddings, TEXT, n_steps=n_steps, method="riemann_trapezoid")
    assert np.abs(result.scores * (n_steps - 1) / n_steps - expected).max() <= CAPTUM_TOLERANCE


def test_token_classification_entity_equals_captum():
    ours = model(DistilBertForTokenClassification, num_labels=3, id2label={0: "O", 1: "B-LOC", 2: "I-LOC"})
    start = TEXT.index("paris , france")
    entity = {"start": start, "end": start + len("paris , france")}
    result = explain.attributions(ours, tokenizer(), TEXT, target=entity)
    positions = result.details["positions"]
    assert [result.tokens[position] for position in positions] == ["paris", ",", "france"]
    with torch.no_grad():
        logits = ours(**tokenizer()(TEXT, return_tensors="pt")).logits[0]
    labels = logits[positions].argmax(-1)

    def forward(ids, mask):
        return ours(input_ids=ids, attention_mask=mask).logits[:, positions, labels].sum(-1)

    expected, delta = captum_scores(forward, ours.distilbert.embeddings, TEXT)
    assert np.abs(result.scores - expected).max() <= CAPTUM_TOLERANCE
    assert abs(result.delta - delta) <= CAPTUM_TOLERANCE


@pytest.mark.parametrize("target", ["start", "end", ("end", 9)])
def test_question_answering_start_end_equals_captum(target):
    ours = model(DistilBertForQuestionAnswering, num_labels=2)
    question, context = "where does john live ?", "john lives in paris , france"
    result = explain.attributions(ours, tokenizer(), question, context, target=target)
    side, position = next(iter(result.details.items()))
    assert side == (target if isinstance(target, str) else target[0])
    if not isinstance(target, str):
        assert position == 9
    else:  # the best position among the context's tokens
        with torch.no_grad():
            output = ours(**tokenizer()(question, context, return_tensors="pt"))
        logits = getattr(output, f"{side}_logits")[0]
        context_positions = range(len(question.split()) + 2, len(result.tokens) - 1)
        assert position == max(context_positions, key=lambda index: float(logits[index]))

    def forward(ids, mask):
        return getattr(ours(input_ids=ids, attention_mask=mask), f"{side}_logits")[:, position]

    expected, delta = captum_scores(forward, ours.distilbert.embeddings, question, context)
    assert np.abs(result.scores - expected).max() <= CAPTUM_TOLERANCE
    assert abs(result.delta - delta) <= CAPTUM_TOLERANCE


def test_question_answering_answer_span_equals_captum():
    ours = model(DistilBertForQuestionAnswering, num_labels=2)
    question, context = "where does john live ?", "john lives in paris , france"
    answer = {"start": context.index("paris"), "end": len(context)}
    result = explain.attributions(ours, tokenizer(), question, context, target=answer)
    first, last = result.details["start"], result.details["end"]
    assert (result.tokens[first], result.tokens[last]) == ("paris", "france")

    def forward(ids, mask):
        output = ours(input_ids=ids, attention_mask=mask)
        return output.start_logits[:, first] + output.end_logits[:, last]

    expected, delta = captum_scores(forward, ours.distilbert.embeddings, question, context)
    assert np.abs(result.scores - expected).max() <= CAPTUM_TOLERANCE
    assert abs(result.delta - delta) <= CAPTUM_TOLERANCE


def test_fill_mask_word_equals_captum():
    ours = model(DistilBertForMaskedLM)
    text = "the [MASK] sat on the mat"
    result = explain.attributions(ours, tokenizer(), text)
    with torch.no_grad():
        predicted = int(ours(**tokenizer()(text, return_tensors="pt")).logits[0, 2].argmax())
    assert result.details == {"position": 2, "token": predicted}
    assert result.target == VOCAB[predicted]

    def forward(ids, mask):
        return ours(input_ids=ids, attention_mask=mask).logits[:, 2, predicted]

    expected, delta = captum_scores(forward, ours.distilbert.embeddings, text)
    assert np.abs(result.scores - expected).max() <= CAPTUM_TOLERANCE
    assert abs(result.delta - delta) <= CAPTUM_TOLERANCE
    by_word = explain.attributions(ours, tokenizer(), text, target="dog")
    assert by_word.details["token"] == VOCAB.index("dog")


def test_completeness_scores_sum_to_the_logit_difference():
    # the token-classification head is a smooth function of the embeddings (the sequence classifier's ReLU puts
    # kinks on the path, which slow any quadrature down), so 50 Gauss-Legendre points must leave < 1% error
    ours = model(DistilBertForTokenClassification, num_labels=3)
    for text in SENTENCES:
        result = explain.attributions(ours, tokenizer(), text, target=[1, 2])
        encoding = tokenizer()(text, return_tensors="pt")
        baseline = torch.tensor([[2] + [0] * (encoding["input_ids"].size(1) - 2) + [3]])
        with torch.no_grad():
            logits = ours(**encoding).logits[0, 1:3]  # (2, labels)
            labels = logits.argmax(-1)
            value = float(logits[[0, 1], labels].sum())
            base_logits = ours(input_ids=baseline, attention_mask=encoding["attention_mask"]).logits[0, 1:3]
            base = float(base_logits[[0, 1], labels].sum())
        assert result.value == pytest.approx(value, abs=1e-5)
        assert result.baseline_value == pytest.approx(base, abs=1e-5)
        assert result.delta == pytest.approx(float(result.scores.sum()) - (value - base), abs=1e-5)
        assert abs(result.delta) <= 0.01 * abs(value - base), (text, result.delta, value - base)


def test_memory_bound_does_not_change_the_result():
    ours = classifier()
    whole = explain.attributions(ours, tokenizer(), TEXT, n_steps=40, internal_batch_size=40)
    chunked = explain.attributions(ours, tokenizer(), TEXT, n_steps=40, internal_batch_size=3)
    np.testing.assert_allclose(whole.scores, chunked.scores, atol=1e-5)


def test_weights_get_no_gradients_and_keep_their_trainable_flags():
    ours = classifier()
    ours.distilbert.embeddings.requires_grad_(False)  # a user's frozen part stays frozen
    trainable = {name: parameter.requires_grad for name, parameter in ours.named_parameters()}
    explain.attributions(ours, tokenizer(), TEXT, n_steps=8)
    assert {name: parameter.requires_grad for name, parameter in ours.named_parameters()} == trainable
    assert any(trainable.values()) and not all(trainable.values())
    assert all(parameter.grad is None for parameter in ours.parameters())


# -- pipelines -------------------------------------------------------------------------------------------------


def test_text_classification_pipeline_explains_the_predicted_label():
    ours = classifier()
    runner = pipeline("text-classification", model=ours, tokenizer=tokenizer())
    plain = runner(SENTENCES[:3])
    explained = runner(SENTENCES[:3], explain={"method": "gausslegendre"}, batch_size=2)  # Captum's rule
    for text, before, result in zip(SENTENCES[:3], plain, explained, strict=True):
        assert result["label"] == before["label"] and result["score"] == pytest.approx(before["score"], abs=1e-6)
        tokens = result["attributions"]
        assert [item["token"] for item in tokens] == ["[CLS]", *text.split(), "[SEP]"]
        assert all(text[item["start"]:item["end"]] == item["token"] for item in tokens[1:-1])
        index = ours.config.label2id[result["label"]]
        expected, delta = captum_scores(
            lambda ids, mask, index=index: ours(input_ids=ids, attention_mask=mask).logits[:, index],
            ours.distilbert.embeddings, text)
        assert np.abs(np.array([item["score"] for item in tokens]) - expected).max() <= CAPTUM_TOLERANCE
        assert result["delta"] == pytest.approx(delta, abs=CAPTUM_TOLERANCE)
    ranked = runner(TEXT, top_k=None, explain={"n_steps": 10, "method": "riemann_middle"})
    assert [entry["label"] for entry in ranked] == [entry["label"] for entry in runner(TEXT, top_k=None)]
    assert all(len(entry["attributions"]) == len(TEXT.split()) + 2 for entry in ranked)


def test_ner_and_fill_mask_pipelines_explain_each_result():
    ner = pipeline("ner", model=model(DistilBertForTokenClassification, num_labels=3,
                                      id2label={0: "O", 1: "B-LOC", 2: "I-LOC"}), tokenizer=tokenizer())
    entities = ner(TEXT, aggregation_strategy="simple", explain={"method": "gausslegendre"})
    assert entities
    for entity in entities:
        direct = explain.attributions(ner.model, ner.tokenizer, TEXT, target=entity, method="gausslegendre")
        np.testing.assert_allclose([item["score"] for item in entity["attributions"]], direct.scores, atol=1e-5)
    unmasker = pipeline("fill-mask", model=model(DistilBertForMaskedLM), tokenizer=tokenizer())
    per_mask = unmasker("the [MASK] sat on the [MASK]", top_k=2, explain={"method": "gausslegendre"})
    ours = unmasker.model
    for position, candidates in zip((2, 6), per_mask, strict=True):
        for candidate in candidates:
            token = candidate["token"]

            def forward(ids, mask, position=position, token=token):
                return ours(input_ids=ids, attention_mask=mask).logits[:, position, token]

            expected, _ = captum_scores(forward, ours.distilbert.embeddings, "the [MASK] sat on the [MASK]")
            assert np.abs(np.array([item["score"] for item in candidate["attributions"]]) - expected).max() \
                <= CAPTUM_TOLERANCE


# -- JSON, pictures, HTML in a browser, the command ------------------------------------------------------------


def test_explain_json_is_plain_json_with_every_part():
    runner = pipeline("text-classification", model=classifier(), tokenizer=tokenizer())
    data = explain.explain_json(runner, TEXT, n_steps=20)
    assert json.loads(json.dumps(data)) == data
    assert data["prediction"]["label"] == runner(TEXT)[0]["label"]
    assert [target["label"] for target in data["targets"]] == [entry["label"] for entry in runner(TEXT, top_k=None)]
    assert [item["token"] for item in data["tokens"]] == ["[CLS]", *TEXT.split(), "[SEP]"]
    size = len(data["tokens"])
    assert np.array(data["attention"]["weights"]).shape == (2, 4, size, size)
    assert np.array(data["attention"]["rollout"]).shape == (size, size)


def test_pictures_are_labelled_and_not_blank(tmp_path):
    from matplotlib.image import imread

    maps = explain.attention(classifier(), tokenizer(), TEXT)
    explain.plot_attention(maps, layer=1, head=2, path=tmp_path / "head.svg")
    svg = (tmp_path / "head.svg").read_text()
    assert all(f">{label}</text>" in svg for label in ("attention, layer 1, head 2", "france", "[CLS]",
                                                       "attending token (query)", "probability"))
    for name, options in [("grid.png", {}), ("layer.png", {"layer": 0}), ("head.png", {"layer": 1, "head": 3})]:
        explain.plot_attention(maps, path=tmp_path / name, **options)
        pixels = imread(tmp_path / name)
        assert min(pixels.shape[:2]) > 200 and pixels[..., :3].std() > 0.05
    result = explain.attributions(classifier(), tokenizer(), TEXT)
    explain.plot_attributions(result, path=tmp_path / "tokens.svg")
    svg = (tmp_path / "tokens.svg").read_text()
    assert all(f">{word}</text>" in svg for word in ("paris", "france", "[CLS]"))
    assert f"target {result.target!r}" in svg


def test_html_report_opens_offline_and_shows_tokens_and_label(tmp_path, page):  # noqa: F811
    runner = pipeline("text-classification", model=classifier(), tokenizer=tokenizer())
    hostile = TEXT + " </script><script>alert(1)</script> <img src=x onerror=alert(2)>"
    data = explain.explain_json(runner, hostile, n_steps=10)
    report = explain.save_report(data, tmp_path / "report.html")
    requests, dialogs = [], []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
               else (requests.append(route.request.url), route.abort()))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(report.as_uri())
    assert data["prediction"]["label"] in page.inner_text("#prediction")
    highlighted = page.inner_text("#highlights")
    assert all(word in highlighted for word in ("paris", "france", "[CLS]", "[SEP]"))
    assert "convergence delta" in page.inner_text("#target-note")
    page.select_option("#target", "1")
    assert page.locator("#highlights .token").count() == len(data["targets"][1]["attributions"])
    page.select_option("#layer", "1")
    page.select_option("#head", "3")
    page.select_option("#layer", "rollout")
    assert page.evaluate("document.getElementById('heatmap').width") > 100
    assert page.evaluate("document.querySelectorAll('script').length") == 2  # the hostile text stayed text
    assert not dialogs and not requests and not page.problems, (dialogs, requests, page.problems)


def test_command_writes_report_and_pictures(tmp_path, capsys):
    classifier().save_pretrained(tmp_path / "model")
    tokenizer().save_pretrained(tmp_path / "model")
    outputs = [tmp_path / "report.html", tmp_path / "map.png", tmp_path / "head.svg"]
    code = main(["explain", TEXT, "--model", str(tmp_path / "model"), "--steps", "10",
                 "--out", str(outputs[0]), "--out", str(outputs[1])])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "france" in printed and "delta" in printed
    assert "france" in outputs[0].read_text() and outputs[1].stat().st_size > 1000
    assert main(["explain", TEXT, "--model", str(tmp_path / "model"), "--layer", "1", "--head", "2",
                 "--out", str(outputs[2])]) == 0
    assert "layer 1, head 2" in outputs[2].read_text()
    assert main(["explain", TEXT, "--model", str(tmp_path / "model"), "--out", str(tmp_path / "map.jpg")]) == 2
    assert "png" in capsys.readouterr().err


def test_import_does_not_load_matplotlib():
    code = "import sys, distilkit.explain; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


# -- bad input -------------------------------------------------------------------------------------------------


def test_bad_inputs_give_clear_errors(tmp_path):
    ours, tok = classifier(), tokenizer()
    maps = explain.attention(ours, tok, TEXT)
    with pytest.raises(InputError, match=r"head index 4 is out of range: the model has 4 heads \(valid: 0..3\)"):
        maps.head(1, 4)
    with pytest.raises(InputError, match="layer index 7 is out of range"):
        explain.plot_attention(maps, layer=7, head=0)
    with pytest.raises(InputError, match="head=2 needs layer"):
        explain.plot_attention(maps, head=2)
    with pytest.raises(InputError, match=r"\.png or \.svg"):
        explain.plot_attention(maps, path=tmp_path / "map.jpg")
    for empty in ("", "   "):
        with pytest.raises(InputError, match="empty"):
            explain.attributions(ours, tok, empty)
        with pytest.raises(InputError, match="empty"):
            explain.attention(ours, tok, empty)
    with pytest.raises(InputError, match="no attribution target"):
        explain.attributions(model(DistilBertModel), tok, TEXT)
    with pytest.raises(InputError, match="no attribution target"):
        explain.explain_json(pipeline("feature-extraction", model=model(DistilBertModel), tokenizer=tok), TEXT)
    with pytest.raises(InputError, match="token classification needs target="):
        explain.attributions(model(DistilBertForTokenClassification, num_labels=3), tok, TEXT)
    with pytest.raises(InputError, match="no mask token"):
        explain.attributions(model(DistilBertForMaskedLM), tok, TEXT)
    with pytest.raises(InputError, match="not a label of this model"):
        explain.attributions(ours, tok, TEXT, target="NEUTRAL")
    with pytest.raises(InputError, match="method='simpson' is not one of gausslegendre"):
        explain.attributions(ours, tok, TEXT, method="simpson")
    with pytest.raises(InputError, match="n_steps must be an int >= 1"):
        explain.attributions(ours, tok, TEXT, n_steps=0)
    with pytest.raises(InputError, match="internal_batch_size must be an int >= 1"):
        explain.attributions(ours, tok, TEXT, internal_batch_size=0)
    runner = pipeline("text-classification", model=ours, tokenizer=tok)
    with pytest.raises(InputError, match="explain got unknown option"):
        runner(TEXT, explain={"steps": 5})
