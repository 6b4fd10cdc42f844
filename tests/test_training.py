"""Trainer: every head trains and its loss falls, trained models reload identically in distilkit and the reference,
dataset kinds, evaluation / prediction, best model + rotation + early stopping, logs, bad input, arguments, and
the `train(...)` function behind `distilkit train`."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from training_fixtures import (
    NER_LABELS,
    choice_examples,
    config,
    ner_examples,
    one_torch_thread,  # noqa: F401 (autouse fixture)
    qa_examples,
    sentiment_examples,
    tokenized,
    tokenizer,
)

import distilkit
from distilkit import (
    DistilBertForMaskedLM,
    DistilBertForMultipleChoice,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from distilkit.errors import ConfigError, InputError
from distilkit.training import (
    DataCollatorForLanguageModeling,
    DataCollatorForMultipleChoice,
    DataCollatorForQuestionAnswering,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    EvalPrediction,
    Trainer,
    TrainingArguments,
    classification_metrics,
    entity_scores,
    postprocess_question_answering,
    prepare_question_answering_features,
    read_examples,
    squad_metrics,
    train,
)


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return tokenizer(tmp_path_factory.mktemp("vocab"))


def arguments(tmp_path, **overrides) -> TrainingArguments:
    settings = dict(output_dir=str(tmp_path / "out"), learning_rate=1e-2, max_steps=40,
                    per_device_train_batch_size=8, per_device_eval_batch_size=16, logging_steps=10,
                    save_strategy="no", disable_tqdm=True, seed=0, warmup_steps=3)
    return TrainingArguments(**{**settings, **overrides})


def hidden_state_loss(outputs, labels, num_items_in_batch):
    # a made-up objective for the bare encoder: push the [CLS] features' mean towards the target
    return ((outputs.last_hidden_state[:, 0].mean(-1) - labels) ** 2).mean()


def head_setup(name, tok):
    """(model class, config overrides, examples, collator, compute_loss_func) for one head."""
    sentiment = tokenized(sentiment_examples(48), tok)
    if name == "masked-lm":
        texts = [{"input_ids": row["input_ids"]} for row in sentiment]
        return DistilBertForMaskedLM, {}, texts, DataCollatorForLanguageModeling(tok, mlm_probability=0.3), None
    if name == "sequence-classification":
        return DistilBertForSequenceClassification, {}, sentiment, DataCollatorWithPadding(tok), None
    if name == "token-classification":
        return (DistilBertForTokenClassification, {"num_labels": 5}, ner_examples(48),
                DataCollatorForTokenClassification(tok), None)
    if name == "question-answering":
        return (DistilBertForQuestionAnswering, {}, qa_examples(48),
                DataCollatorForQuestionAnswering(tok, max_length=48, doc_stride=16), None)
    if name == "multiple-choice":
        return DistilBertForMultipleChoice, {}, choice_examples(48), DataCollatorForMultipleChoice(tok), None
    targets = [{**row, "label": 1.0 if row["label"] else -1.0} for row in sentiment]
    return DistilBertModel, {}, targets, DataCollatorWithPadding(tok), hidden_state_loss


HEADS = ["masked-lm", "sequence-classification", "token-classification", "question-answering", "multiple-choice",
         "bare-encoder"]


def forward_logits(model, batch):
    inputs = {key: value for key, value in batch.items()
              if key not in ("labels", "start_positions", "end_positions")}
    with torch.no_grad():
        output = model(**inputs)
    if hasattr(output, "start_logits"):
        return torch.stack([output.start_logits, output.end_logits])
    return output.logits if hasattr(output, "logits") else output.last_hidden_state


@pytest.mark.parametrize("head", HEADS)
def test_every_head_trains_and_reloads_identically_in_distilkit_and_the_reference(tmp_path, tok, head):
    model_class, overrides, examples, collator, loss_func = head_setup(head, tok)
    model = model_class(config(**overrides))
    trainer = Trainer(model, arguments(tmp_path), train_dataset=examples, data_collator=collator,
                      processing_class=tok, compute_loss_func=loss_func)

    def loss_on_training_data():
        torch.manual_seed(1)  # the same MLM masks both times
        return trainer.evaluate(examples)["eval_loss"]

    before = loss_on_training_data()
    result = trainer.train()
    after = loss_on_training_data()
    assert result.global_step == 40
    assert after < 0.85 * before, (before, after)

    saved = tmp_path / "saved"
    trainer.save_model(saved)
    torch.manual_seed(2)
    batch = collator(examples[:6])
    model.eval()
    expected = forward_logits(model, batch)
    ours = model_class.from_pretrained(saved)
    reference = getattr(transformers, model_class.__name__).from_pretrained(saved).eval()
    assert torch.equal(forward_logits(ours, batch), expected)
    assert torch.allclose(forward_logits(reference, batch), expected, atol=1e-5)
    assert (saved / "tokenizer.json").is_file() and (saved / "training_args.json").is_file()


def test_dataset_kinds_train_identically(tmp_path, tok):
    rows = tokenized(sentiment_examples(20), tok)

    class TorchDataset(torch.utils.data.Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, index):
            return {"input_ids": torch.tensor(rows[index]["input_ids"]), "label": torch.tensor(rows[index]["label"])}

    kinds = {"list": rows, "torch": TorchDataset()}
    datasets = pytest.importorskip("datasets")
    kinds["datasets"] = datasets.Dataset.from_list([{**row, "text": "unused column"} for row in rows])
    weights = {}
    for name, dataset in kinds.items():
        torch.manual_seed(0)
        model = DistilBertForSequenceClassification(config())
        Trainer(model, arguments(tmp_path / name, max_steps=5, per_device_train_batch_size=4),
                train_dataset=dataset, processing_class=tok).train()
        weights[name] = model.state_dict()
    for name in ("torch", "datasets"):
        assert all(torch.equal(weights["list"][key], weights[name][key]) for key in weights["list"]), name


def test_evaluate_and_predict(tmp_path, tok):
    examples = tokenized(sentiment_examples(10), tok)
    trainer = Trainer(DistilBertForSequenceClassification(config()), arguments(tmp_path, per_device_eval_batch_size=3),
                      train_dataset=examples, eval_dataset=examples, processing_class=tok,
                      compute_metrics=classification_metrics)
    output = trainer.predict(examples)
    assert output.predictions.shape == (10, 2)
    assert output.label_ids.tolist() == [row["label"] for row in examples]
    accuracy = np.mean(output.predictions.argmax(-1) == output.label_ids)
    assert output.metrics["test_accuracy"] == pytest.approx(accuracy)
    assert {"test_loss", "test_f1", "test_runtime"} <= set(output.metrics)
    metrics = trainer.evaluate()
    assert metrics["eval_loss"] == pytest.approx(output.metrics["test_loss"])
    assert trainer.state.log_history[-1]["eval_accuracy"] == metrics["eval_accuracy"]

    reduced = Trainer(trainer.model, arguments(tmp_path), processing_class=tok, compute_metrics=classification_metrics,
                      preprocess_logits_for_metrics=lambda logits, labels: logits.argmax(-1))
    assert reduced.predict(examples).predictions.tolist() == output.predictions.argmax(-1).tolist()

    qa = Trainer(DistilBertForQuestionAnswering(config()), arguments(tmp_path), processing_class=tok,
                 data_collator=DataCollatorForQuestionAnswering(tok, max_length=48, doc_stride=16))
    start_logits, end_logits = qa.predict(qa_examples(5)).predictions
    assert start_logits.shape == end_logits.shape and start_logits.shape[0] == 5


def test_question_answering_end_to_end_with_squad_scores(tmp_path, tok):
    examples = qa_examples(48)
    collator = DataCollatorForQuestionAnswering(tok, max_length=48, doc_stride=16)
    trainer = Trainer(DistilBertForQuestionAnswering(config()), arguments(tmp_path), train_dataset=examples,
                      data_collator=collator, processing_class=tok)
    trainer.train()
    test = qa_examples(12, seed=5)
    features = prepare_question_answering_features(test, tok, max_length=48, doc_stride=16)
    start_logits, end_logits = trainer.predict(features).predictions
    answers = postprocess_question_answering(test, features, start_logits, end_logits)
    scores = squad_metrics(answers, [example["answers"]["text"] for example in test])
    assert scores == {"exact_match": 100.0, "f1": 100.0}


def test_token_classification_end_to_end_with_entity_scores(tmp_path, tok):
    trainer = Trainer(DistilBertForTokenClassification(config(num_labels=len(NER_LABELS))),
                      arguments(tmp_path, per_device_eval_batch_size=5), train_dataset=ner_examples(48),
                      data_collator=DataCollatorForTokenClassification(tok), processing_class=tok)
    trainer.train()
    test = ner_examples(12, seed=5)
    output = trainer.predict(test)
    assert output.label_ids.shape == output.predictions.shape[:2]  # batches of different lengths, padded -100
    predicted = output.predictions.argmax(-1)
    keep = output.label_ids != -100
    references = [[NER_LABELS[tag] for tag in example["labels"]] for example in test]
    predictions = [[NER_LABELS[tag] for tag in row[mask]] for row, mask in zip(predicted, keep, strict=True)]
    assert entity_scores(references, predictions)["f1"] == 1.0


def scripted_metrics(values):
    scores = iter(values)

    def compute(eval_prediction: EvalPrediction):
        return {"score": next(scores)}

    return compute


def test_best_model_is_kept_through_rotation_and_loaded_at_the_end(tmp_path, tok):
    examples = tokenized(sentiment_examples(16), tok)
    model = DistilBertForSequenceClassification(config())
    args = arguments(tmp_path, max_steps=8, eval_strategy="steps", eval_steps=2, save_strategy="steps",
                     save_steps=2, save_total_limit=1, load_best_model_at_end=True, metric_for_best_model="score")
    trainer = Trainer(model, args, train_dataset=examples, eval_dataset=examples[:4], processing_class=tok,
                      compute_metrics=scripted_metrics([0.5, 0.9, 0.6, 0.7]))
    trainer.train()
    output = Path(args.output_dir)
    assert sorted(path.name for path in output.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-8"]
    assert trainer.state.best_metric == 0.9
    assert Path(trainer.state.best_model_checkpoint).name == "checkpoint-4"
    best = DistilBertForSequenceClassification.from_pretrained(output / "checkpoint-4")
    assert all(torch.equal(value, model.state_dict()[key]) for key, value in best.state_dict().items())


def test_early_stopping(tmp_path, tok):
    examples = tokenized(sentiment_examples(16), tok)
    args = arguments(tmp_path, max_steps=40, eval_strategy="steps", eval_steps=2, early_stopping_patience=2,
                     metric_for_best_model="score")
    trainer = Trainer(DistilBertForSequenceClassification(config()), args, train_dataset=examples,
                      eval_dataset=examples[:4], processing_class=tok,
                      compute_metrics=scripted_metrics([0.5, 0.9, 0.6, 0.7, 0.95]))
    assert trainer.train().global_step == 8  # two evaluations after the best without improvement


def test_log_file_holds_every_logged_step_and_progress_is_shown(tmp_path, tok, capsys):
    examples = tokenized(sentiment_examples(16), tok)
    args = arguments(tmp_path, max_steps=6, logging_steps=2, disable_tqdm=False)
    trainer = Trainer(DistilBertForSequenceClassification(config()), args, train_dataset=examples,
                      processing_class=tok)
    trainer.train()
    lines = (Path(args.output_dir) / "trainer_log.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == trainer.state.log_history
    assert [entry["step"] for entry in trainer.state.log_history if "loss" in entry] == [2, 4, 6]
    assert {"loss", "learning_rate", "grad_norm", "epoch"} <= set(trainer.state.log_history[0])
    assert "train (epoch 1/" in capsys.readouterr().err


def test_no_decay_groups_and_schedules(tmp_path, tok):
    model = DistilBertForSequenceClassification(config())
    trainer = Trainer(model, arguments(tmp_path, max_steps=10, weight_decay=0.1, warmup_steps=4,
                                       lr_scheduler_type="cosine"),
                      train_dataset=tokenized(sentiment_examples(8), tok), processing_class=tok)
    trainer.train()
    decay, no_decay = trainer.optimizer.param_groups
    names = {id(parameter): name for name, parameter in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(names[id(p)].endswith("bias") or "LayerNorm" in names[id(p)] or "layer_norm" in names[id(p)]
               for p in no_decay["params"])
    assert all(not names[id(p)].endswith("bias") for p in decay["params"])
    rates = [entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry]
    assert rates == [pytest.approx(1e-2 * 0.5 * (1 + np.cos(np.pi * 6 / 6)))]  # logged at step 10: the end


# -- bad input: clear errors before any compute -----------------------------------------------------------------

def count_forwards(model):
    calls = []
    model.register_forward_pre_hook(lambda module, inputs: calls.append(1))
    return calls


@pytest.mark.parametrize("good, bad, overrides, message", [
    (None, 5, {}, r"outside \[0, 2\)"),
    (None, 1.0, {}, "integer class id"),
    (None, "positive", {}, "integer class id"),
    ([1.0, 0.0, 1.0], [1, 0, 1], {"num_labels": 3}, "write the targets as floats"),
    ([1.0, 0.0, 1.0], [1.0, 0.0], {"num_labels": 3, "problem_type": "multi_label_classification"}, "list of 3"),
    (0.5, [0.5, 0.1], {"num_labels": 1}, "regression with num_labels=1"),
])
def test_bad_labels_fail_before_any_forward(tmp_path, tok, good, bad, overrides, message):
    examples = tokenized(sentiment_examples(12), tok)
    for example in examples:
        example["label"] = example["label"] if good is None else good
    examples[7]["label"] = bad
    model = DistilBertForSequenceClassification(config(**overrides))
    calls = count_forwards(model)
    with pytest.raises(InputError, match=message) as raised:
        Trainer(model, arguments(tmp_path), train_dataset=examples, processing_class=tok).train()
    assert "train_dataset[7]" in str(raised.value)
    assert not calls


def test_token_labels_out_of_range(tmp_path, tok):
    examples = ner_examples(8)
    examples[3]["labels"] = [0, 9, 0, 0]
    model = DistilBertForTokenClassification(config(num_labels=5))
    with pytest.raises(InputError, match=r"\[9\] are not class ids"):
        Trainer(model, arguments(tmp_path), train_dataset=examples,
                data_collator=DataCollatorForTokenClassification(tok)).train()


def test_bad_datasets_and_missing_eval_data(tmp_path, tok):
    model = DistilBertForSequenceClassification(config())
    with pytest.raises(InputError, match="empty"):
        Trainer(model, arguments(tmp_path), train_dataset=[], processing_class=tok).train()
    with pytest.raises(InputError, match="needs a train_dataset"):
        Trainer(model, arguments(tmp_path)).train()
    with pytest.raises(InputError, match="map-style"):
        Trainer(model, arguments(tmp_path), train_dataset=iter([{"input_ids": [2, 3]}])).train()
    with pytest.raises(InputError, match="dict of features"):
        Trainer(model, arguments(tmp_path), train_dataset=[[2, 5, 3]]).train()
    with pytest.raises(InputError, match="none of train_dataset's columns"):
        Trainer(model, arguments(tmp_path), train_dataset=[{"sentence": "raw text", "label": 1}]).train()
    with pytest.raises(ConfigError, match="needs an eval_dataset"):
        Trainer(model, arguments(tmp_path, eval_strategy="epoch"), train_dataset=[{"input_ids": [2, 3]}])
    with pytest.raises(InputError, match="needs an eval_dataset"):
        Trainer(model, arguments(tmp_path)).evaluate()
    with pytest.raises(InputError, match="returned no loss"):
        Trainer(model, arguments(tmp_path), train_dataset=[{"input_ids": [2, 3]}], processing_class=tok).train()


@pytest.mark.parametrize("overrides, message", [
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"per_device_train_batch_size": 0}, "per_device_train_batch_size"),
    ({"lr_scheduler_type": "exotic"}, "lr_scheduler_type"),
    ({"eval_strategy": "sometimes"}, "eval_strategy"),
    ({"max_steps": 0}, "max_steps"),
    ({"logging_steps": 2.5}, "logging_steps"),
    ({"warmup_ratio": 2.0}, "warmup_ratio"),
    ({"num_train_epochs": "3"}, "num_train_epochs"),
    ({"lr_scheduler_type": "constant", "warmup_steps": 5}, "constant_with_warmup"),
    ({"load_best_model_at_end": True}, "need evaluations"),
    ({"load_best_model_at_end": True, "eval_strategy": "steps", "save_strategy": "epoch"}, "save_strategy"),
    ({"load_best_model_at_end": True, "eval_strategy": "steps", "eval_steps": 3, "save_steps": 4}, "multiple"),
    ({"save_total_limit": 0}, "save_total_limit"),
])
def test_arguments_are_validated(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TrainingArguments(output_dir="x", **overrides)


def test_argument_defaults_follow_the_reference():
    args = TrainingArguments(output_dir="x", eval_strategy="steps", load_best_model_at_end=True, save_steps=10,
                             eval_steps=5)
    assert args.metric_for_best_model == "loss" and args.greater_is_better is False
    assert TrainingArguments(output_dir="x", metric_for_best_model="accuracy").greater_is_better is True
    assert TrainingArguments(output_dir="x", logging_steps=0.1).steps_for("logging_steps", 95) == 10
    assert json.loads(args.to_json_string())["eval_steps"] == 5


# -- train(...) for the CLI -------------------------------------------------------------------------------------

@pytest.fixture
def base_model(tmp_path, tok):
    directory = tmp_path / "base"
    DistilBertModel(config()).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def test_train_function_from_csv_with_named_labels(tmp_path, base_model):
    rows = sentiment_examples(40)
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\n" + "".join(f"{row['text']},{'pos' if row['label'] else 'neg'}\n" for row in rows))
    output = train(data, tmp_path / "model", model=base_model, epochs=4, learning_rate=1e-2, batch_size=8,
                   disable_tqdm=True)
    model = DistilBertForSequenceClassification.from_pretrained(output)
    assert model.config.id2label == {0: "neg", 1: "pos"}
    tok = distilkit.AutoTokenizer.from_pretrained(output)
    batch = tok([row["text"] for row in rows], padding=True, return_tensors="pt")
    predictions = model(**batch).logits.argmax(-1)
    assert (predictions == torch.tensor([row["label"] for row in rows])).float().mean() >= 0.9


def test_train_function_from_jsonl_with_eval_data(tmp_path, base_model):
    for name, seed in (("train.jsonl", 0), ("eval.jsonl", 1)):
        lines = [json.dumps({"sentence": row["text"], "y": row["label"]}) for row in sentiment_examples(16, seed)]
        (tmp_path / name).write_text("\n".join(lines) + "\n\n")
    output = train(tmp_path / "train.jsonl", tmp_path / "model", model=base_model, epochs=2, batch_size=8,
                   text_column="sentence", label_column="y", eval_data=tmp_path / "eval.jsonl", disable_tqdm=True)
    assert DistilBertForSequenceClassification.from_pretrained(output).config.num_labels == 2
    assert len(list(output.glob("checkpoint-*"))) >= 1  # the best epoch's checkpoint is kept


def test_train_function_rejects_bad_files(tmp_path, base_model):
    cases = {"no_label.csv": "text\nhello\n", "empty.jsonl": "\n", "broken.jsonl": '{"text": "a", "label": 1}\n{oops\n',
             "data.txt": "text,label\n", "one_class.csv": "text,label\na,x\nb,x\n"}
    messages = {"no_label.csv": "no column", "empty.jsonl": "no examples", "broken.jsonl": "line 2",
                "data.txt": ".csv, .tsv or .jsonl", "one_class.csv": "single class"}
    for name, content in cases.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(InputError, match=messages[name]):
            train(tmp_path / name, tmp_path / "out", model=base_model)
    (tmp_path / "gap.csv").write_text("text,label\ngood,1\nbad,\n")
    with pytest.raises(InputError, match="line 3"):
        read_examples(tmp_path / "gap.csv")


def test_the_train_command_runs_this_function(tmp_path, base_model, capsys):
    from distilkit.cli import main

    data = tmp_path / "reviews.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in sentiment_examples(12)))
    code = main(["train", "--data", str(data), "--output", str(tmp_path / "model"), "--model", str(base_model),
                 "--epochs", "1", "--batch-size", "4"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "model" / "model.safetensors").is_file() and (tmp_path / "model" / "tokenizer.json").is_file()
