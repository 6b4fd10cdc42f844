"""The Keras 3 (TensorFlow backend) twins against the PyTorch classes computed in the same run: every class on
tiny configs with padded random lengths (logits, losses, hidden states, attentions <= 1e-5), both load
directions, PT -> TF -> PT bitwise, one full-size config; tokenizers' return_tensors="tf"; compile + fit for
every head; pipelines; legacy tf_model.h5 read as arrays, and the files that must be refused.

TensorFlow is imported once for the module (it takes tens of seconds on a busy machine); models are tiny.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import subprocess  # noqa: E402
import sys  # noqa: E402

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
from conftest import TINY  # noqa: E402

import distilkit.modeling as pt  # noqa: E402
import distilkit.tf as dtf  # noqa: E402
from distilkit import DistilBertConfig  # noqa: E402
from distilkit.errors import CheckpointError, InputError  # noqa: E402

keras.utils.set_random_seed(0)

PAIRS = [
    (pt.DistilBertModel, dtf.TFDistilBertModel),
    (pt.DistilBertForMaskedLM, dtf.TFDistilBertForMaskedLM),
    (pt.DistilBertForSequenceClassification, dtf.TFDistilBertForSequenceClassification),
    (pt.DistilBertForTokenClassification, dtf.TFDistilBertForTokenClassification),
    (pt.DistilBertForQuestionAnswering, dtf.TFDistilBertForQuestionAnswering),
    (pt.DistilBertForMultipleChoice, dtf.TFDistilBertForMultipleChoice),
]
NAMES = [pair[1].__name__ for pair in PAIRS]
TOLERANCE = 1e-5


def batch(pt_class, seed: int = 0, batch_size: int = 3, choices: int = 2):
    """Random ids with random real lengths (right padding) and labels fitting the head."""
    rng = np.random.default_rng(seed)
    length = int(rng.integers(6, 14))
    rows = batch_size * choices if pt_class is pt.DistilBertForMultipleChoice else batch_size
    ids = rng.integers(5, TINY["vocab_size"], (rows, length))
    mask = np.ones_like(ids)
    for row in range(rows):
        real = int(rng.integers(2, length + 1))
        mask[row, real:] = 0
        ids[row, real:] = 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    if pt_class is pt.DistilBertForMultipleChoice:
        inputs = {key: value.reshape(batch_size, choices, length) for key, value in inputs.items()}
        labels = {"labels": rng.integers(0, choices, batch_size)}
    elif pt_class is pt.DistilBertForSequenceClassification:
        labels = {"labels": rng.integers(0, 2, batch_size)}
    elif pt_class in (pt.DistilBertForTokenClassification, pt.DistilBertForMaskedLM):
        classes = 2 if pt_class is pt.DistilBertForTokenClassification else TINY["vocab_size"]
        token_labels = rng.integers(0, classes, (batch_size, length))
        token_labels[mask == 0] = -100
        labels = {"labels": token_labels}
    elif pt_class is pt.DistilBertForQuestionAnswering:
        labels = {"start_positions": rng.integers(0, length, batch_size),
                  "end_positions": rng.integers(0, length, batch_size)}
    else:
        labels = {}
    return inputs, labels


def run_pt(model, inputs, labels):
    with torch.no_grad():
        return model(**{key: torch.from_numpy(value) for key, value in {**inputs, **labels}.items()},
                     output_hidden_states=True, output_attentions=True)


def run_tf(model, inputs, labels):
    return model({**inputs, **labels}, output_hidden_states=True, output_attentions=True)


def assert_same_outputs(pt_output, tf_output, loss_reduction=np.mean):
    assert set(pt_output.keys()) == set(tf_output.keys())
    for key in pt_output.keys():
        expected, actual = pt_output[key], tf_output[key]
        if key == "loss":
            # the TF classes give per-example losses; their mean is the PyTorch loss
            np.testing.assert_allclose(loss_reduction(np.asarray(actual)), expected.numpy(), atol=TOLERANCE)
        elif isinstance(expected, tuple):
            assert len(expected) == len(actual)
            for one, other in zip(expected, actual, strict=True):
                np.testing.assert_allclose(np.asarray(other), one.numpy(), atol=TOLERANCE)
        else:
            np.testing.assert_allclose(np.asarray(actual), expected.numpy(), atol=TOLERANCE)


def pt_model(pt_class, **config):
    torch.manual_seed(0)
    return pt_class(DistilBertConfig(**{**TINY, **config})).eval()


# -- parity and the round trip --------------------------------------------------------------------------------


@pytest.mark.parametrize("pt_class, tf_class", PAIRS, ids=NAMES)
def test_parity_both_load_directions_and_bitwise_round_trip(pt_class, tf_class, tmp_path):
    torch_model = pt_model(pt_class)
    torch_model.save_pretrained(tmp_path / "pt")
    keras_model = tf_class.from_pretrained(tmp_path / "pt", from_pt=True)
    assert keras_model.load_report.is_clean
    for seed in range(2):
        inputs, labels = batch(pt_class, seed)
        assert_same_outputs(run_pt(torch_model, inputs, labels), run_tf(keras_model, inputs, labels))

    keras_model.save_pretrained(tmp_path / "tf")
    reloaded = pt_class.from_pretrained(tmp_path / "tf", from_tf=True)
    original, back = torch_model.state_dict(), reloaded.state_dict()
    assert original.keys() == back.keys()
    assert all(torch.equal(original[key], back[key]) for key in original), "PT -> TF -> PT changed weights"

    # the other direction: a fresh TF model, saved, loads in PyTorch with the same outputs
    keras.utils.set_random_seed(1)
    fresh = tf_class(DistilBertConfig(**TINY))
    fresh.save_pretrained(tmp_path / "fresh")
    assert fresh.config.architectures == [pt_class.__name__]
    from_tf = pt_class.from_pretrained(tmp_path / "fresh").eval()
    inputs, labels = batch(pt_class, 5)
    assert_same_outputs(run_pt(from_tf, inputs, labels), run_tf(fresh, inputs, labels))


def test_losses_are_per_example_as_the_tensorflow_classes_gave_them(tmp_path):
    shapes = {"TFDistilBertForSequenceClassification": (3,), "TFDistilBertForQuestionAnswering": (3,),
              "TFDistilBertForMultipleChoice": (3,), "TFDistilBertForTokenClassification": (1,),
              "TFDistilBertForMaskedLM": (1,)}
    for pt_class, tf_class in PAIRS[1:]:
        keras_model = tf_class(DistilBertConfig(**TINY))
        inputs, labels = batch(pt_class, 3)
        assert tuple(run_tf(keras_model, inputs, labels).loss.shape) == shapes[tf_class.__name__]


def test_sequence_classification_losses_by_problem_type(tmp_path):
    inputs, _ = batch(pt.DistilBertForSequenceClassification, 7)
    cases = [(dict(num_labels=1), np.array([0.5, -1.0, 2.0], dtype=np.float32)),
             (dict(num_labels=3, problem_type="multi_label_classification"),
              np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=np.float32))]
    for config, labels in cases:
        torch_model = pt_model(pt.DistilBertForSequenceClassification, **config)
        torch_model.save_pretrained(tmp_path)
        keras_model = dtf.TFDistilBertForSequenceClassification.from_pretrained(tmp_path)
        expected = run_pt(torch_model, inputs, {"labels": labels})
        actual = run_tf(keras_model, inputs, {"labels": labels})
        assert tuple(actual.loss.shape) == (3,)
        assert_same_outputs(expected, actual)


def test_full_size_config_forward_and_round_trip(tmp_path):
    torch.manual_seed(0)
    torch_model = pt.DistilBertForSequenceClassification(DistilBertConfig()).eval()  # 66M parameters
    torch_model.save_pretrained(tmp_path / "pt")
    keras_model = dtf.TFAutoModelForSequenceClassification.from_pretrained(tmp_path / "pt")
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30000, (2, 24))
    mask = np.ones_like(ids)
    mask[1, 15:] = 0
    inputs, labels = {"input_ids": ids, "attention_mask": mask}, {"labels": np.array([1, 0])}
    assert_same_outputs(run_pt(torch_model, inputs, labels), run_tf(keras_model, inputs, labels))
    keras_model.save_pretrained(tmp_path / "tf")
    back = pt.DistilBertForSequenceClassification.from_pretrained(tmp_path / "tf").state_dict()
    assert all(torch.equal(value, back[key]) for key, value in torch_model.state_dict().items())


def test_untied_masked_lm_and_sinusoidal_positions(tmp_path):
    config = dict(tie_word_embeddings=False, sinusoidal_pos_embds=True, activation="relu")
    torch_model = pt_model(pt.DistilBertForMaskedLM, **config)
    torch_model.save_pretrained(tmp_path)
    keras_model = dtf.TFDistilBertForMaskedLM.from_pretrained(tmp_path)
    assert "vocab_projector.weight" in keras_model.checkpoint_variables()
    inputs, labels = batch(pt.DistilBertForMaskedLM, 2)
    assert_same_outputs(run_pt(torch_model, inputs, labels), run_tf(keras_model, inputs, labels))
    fresh = dtf.TFDistilBertForMaskedLM(DistilBertConfig(**TINY, sinusoidal_pos_embds=True))
    table = fresh.distilbert.embeddings.position_embeddings.embeddings.numpy()
    np.testing.assert_allclose(table, pt.distilbert.sinusoidal_table(TINY["max_position_embeddings"], 32).numpy())


def test_sharded_checkpoint_and_head_reinitialised_with_a_report(tmp_path, caplog):
    torch_model = pt_model(pt.DistilBertForSequenceClassification)
    torch_model.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    keras_model = dtf.TFDistilBertForSequenceClassification.from_pretrained(tmp_path)
    inputs, _ = batch(pt.DistilBertForSequenceClassification, 1)
    assert_same_outputs(run_pt(torch_model, inputs, {}), run_tf(keras_model, inputs, {}))

    ten, info = dtf.TFDistilBertForSequenceClassification.from_pretrained(tmp_path, num_labels=10,
                                                                          output_loading_info=True)
    assert [key for key, _, _ in info["mismatched_keys"]] == ["classifier.bias", "classifier.weight"]
    assert tuple(ten(inputs).logits.shape) == (3, 10)
    assert "MISMATCH" in str(ten.load_report)
    base = dtf.TFAutoModel.from_pretrained(tmp_path)  # head stripped
    assert isinstance(base, dtf.TFDistilBertModel)
    heads = dtf.TFDistilBertForQuestionAnswering.from_pretrained(tmp_path)  # base weights, fresh head
    assert heads.load_report.missing == ["qa_outputs.bias", "qa_outputs.weight"]
    assert heads.load_report.unexpected == ["classifier.bias", "classifier.weight", "pre_classifier.bias",
                                            "pre_classifier.weight"]


def test_training_true_applies_dropout_and_outputs_print_as_the_tour_shows():
    keras_model = dtf.TFDistilBertForSequenceClassification(DistilBertConfig(**TINY, dropout=0.5))
    inputs, _ = batch(pt.DistilBertForSequenceClassification, 0)
    first, second = keras_model(inputs, training=True).logits, keras_model(inputs, training=True).logits
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(keras_model(inputs).logits, keras_model(inputs).logits)
    text = repr(keras_model(inputs))
    assert text.startswith("TFSequenceClassifierOutput(loss=None, logits=<tf.Tensor: shape=(3, 2), dtype=float32")
    assert text.endswith("hidden_states=None, attentions=None)")
    as_tuple = keras_model(inputs, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 1


# -- tokenizers -------------------------------------------------------------------------------------------------

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(
    "we are very happy to show you this . hope don ' t hate it the cat sat on mat paris is in france who city"
).split()]


def tokenizers():
    from distilkit import DistilBertTokenizer, DistilBertTokenizerFast

    vocab = {token: index for index, token in enumerate(VOCAB)}
    return [DistilBertTokenizerFast(vocab=vocab), DistilBertTokenizer(vocab=vocab)]


@pytest.mark.parametrize("index", [0, 1], ids=["fast", "slow"])
def test_return_tensors_tf_on_both_tokenizers_and_pad(index):
    tokenizer = tokenizers()[index]
    texts = ["We are very happy to show you this.", "We hope you don't hate it."]
    as_tf = tokenizer(texts, padding=True, return_tensors="tf")
    as_np = tokenizer(texts, padding=True, return_tensors="np")
    for key in as_np:
        assert isinstance(as_tf[key], tf.Tensor) and as_tf[key].dtype == tf.int32  # tf.constant's int dtype
        np.testing.assert_array_equal(as_tf[key].numpy(), as_np[key])
    padded = tokenizer.pad([{"input_ids": [2, 5, 3]}, {"input_ids": [2, 3]}], return_tensors="tf")
    assert padded["input_ids"].numpy().tolist() == [[2, 5, 3], [2, 3, 0]]
    assert padded["attention_mask"].numpy().tolist() == [[1, 1, 1], [1, 1, 0]]


# -- training -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pt_class, tf_class", PAIRS[1:], ids=NAMES[1:])
def test_compile_and_fit_on_the_models_own_loss_then_pytorch_loads_it(pt_class, tf_class, tmp_path):
    keras_model = tf_class(DistilBertConfig(**TINY))
    inputs, labels = batch(pt_class, 4, batch_size=4)
    before = keras_model.state_dict()
    dataset = tf.data.Dataset.from_tensor_slices({**inputs, **labels}).batch(2)
    # eagerly: tracing a training graph per head costs tens of seconds on 2 cores; the graph-mode path is
    # covered once by the next test
    keras_model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    history = keras_model.fit(dataset, epochs=2, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 2 and all(np.isfinite(losses)) and losses[1] < losses[0]
    after = keras_model.state_dict()
    assert any(not np.array_equal(before[key], after[key]) for key in before)
    keras_model.save_pretrained(tmp_path)
    assert_same_outputs(run_pt(pt_class.from_pretrained(tmp_path), inputs, labels),
                        run_tf(keras_model, inputs, labels))


def test_fit_in_graph_mode_with_a_compiled_loss_and_metrics_on_x_y_pairs():
    keras_model = dtf.TFDistilBertForSequenceClassification(DistilBertConfig(**TINY))
    inputs, labels = batch(pt.DistilBertForSequenceClassification, 4, batch_size=4)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels["labels"])).batch(2)
    keras_model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=["accuracy"])
    history = keras_model.fit(dataset, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    # with no compiled loss, y is taken as the labels (the reference's TF convention)
    keras_model.compile(optimizer="adam", run_eagerly=True)
    assert np.isfinite(keras_model.fit(dataset, epochs=1, verbose=0).history["loss"][0])
    predictions = keras_model.predict(tf.data.Dataset.from_tensor_slices(inputs).batch(2), verbose=0)
    np.testing.assert_allclose(predictions["logits"], keras_model(inputs).logits, atol=TOLERANCE)


# -- pipelines ----------------------------------------------------------------------------------------------------

TASKS = [
    ("text-classification", pt.DistilBertForSequenceClassification, ["the cat sat on the mat", "paris"], {}),
    ("token-classification", pt.DistilBertForTokenClassification, "the cat sat in paris", {}),
    ("fill-mask", pt.DistilBertForMaskedLM, "the cat [MASK] on the mat", {}),
    ("feature-extraction", pt.DistilBertModel, ["the cat", "the cat sat on the mat"], {}),
    ("question-answering", pt.DistilBertForQuestionAnswering,
     {"question": "who sat ?", "context": "the cat sat on the mat in paris"}, {}),
    ("zero-shot-classification", pt.DistilBertForSequenceClassification, "the cat sat",
     {"candidate_labels": ["paris", "france"]}),
    ("multiple-choice", pt.DistilBertForMultipleChoice,
     {"question": "who sat ?", "choices": ["the cat", "the mat"]}, {}),
]


def close(left, right):
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(close(left[key], right[key]) for key in left)
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(close(one, other) for one, other in zip(left, right, strict=True))
    if isinstance(left, float):
        return abs(left - right) <= 1e-5
    if isinstance(left, np.ndarray):
        return np.allclose(left, right, atol=1e-5)
    return left == right


@pytest.mark.parametrize("task, pt_class, inputs, options", TASKS, ids=[task[0] for task in TASKS])
def test_pipeline_on_a_tf_model_gives_the_pytorch_results(task, pt_class, inputs, options, tmp_path):
    from distilkit.pipelines import pipeline

    config = {"vocab_size": len(VOCAB)}
    if task == "zero-shot-classification":
        config["label2id"] = {"contradiction": 0, "neutral": 1, "entailment": 2}
        config["id2label"] = {0: "contradiction", 1: "neutral", 2: "entailment"}
    torch_model = pt_model(pt_class, **config)
    tokenizer = tokenizers()[0]
    torch_model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    tf_class = dict(PAIRS)[pt_class]
    expected = pipeline(task, model=torch_model, tokenizer=tokenizer, device=-1)(inputs, **options)
    actual = pipeline(task, model=tf_class.from_pretrained(tmp_path), tokenizer=tokenizer, device=-1)(inputs,
                                                                                                         **options)
    assert close(expected, actual), (expected, actual)
    by_path = pipeline(task, model=str(tmp_path), framework="tf", device=-1)(inputs, **options)
    assert close(expected, by_path)


# -- legacy tf_model.h5 -------------------------------------------------------------------------------------------


def tf_weight_name(key: str, array: np.ndarray) -> tuple[str, np.ndarray]:
    """A PyTorch key as the reference's TF classes named the weight: `transformer.layer.0.ffn.lin1.weight` ->
    `transformer/layer_._0/ffn/lin1/kernel` holding the transposed matrix; LayerNorm gamma/beta; the position
    table an Embedding's `embeddings`, the word table a plain `weight`."""
    parts = key.split(".")
    if "layer" in parts:
        index = parts.index("layer")
        parts[index:index + 2] = [f"layer_._{parts[index + 1]}"]
    owner = parts[-2]
    if owner == "position_embeddings":
        parts[-1] = "embeddings"
    elif owner == "LayerNorm" or owner.endswith("layer_norm"):
        parts[-1] = {"weight": "gamma", "bias": "beta"}[parts[-1]]
    elif owner != "word_embeddings" and parts[-1] == "weight":
        parts[-1], array = "kernel", array.T
    return "/".join(parts), array


def write_legacy_h5(path, state: dict, model_name: str):
    """A tf_model.h5 in the layout the reference's TF classes wrote with Keras 2 `save_weights` (checked against
    real ones by tests/parity/test_tf_reference_parity.py): one group per top-level layer, its `weight_names`
    attribute, each weight a dataset at `group/<model name>/<layer>/.../<leaf>:0`."""
    layers: dict[str, list[tuple[str, np.ndarray]]] = {}
    for key, tensor in state.items():
        name, array = tf_weight_name(key, tensor.numpy())
        layers.setdefault(name.split("/")[0], []).append((f"{model_name}/{name}:0", array))
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [layer.encode() for layer in layers]
        handle.attrs["backend"] = b"tensorflow"
        for layer, weights in layers.items():
            group = handle.create_group(layer)
            group.attrs["weight_names"] = [name.encode() for name, _ in weights]
            for name, array in weights:
                group.create_dataset(name, data=array)


def test_legacy_tf_model_h5_loads_in_both_frameworks(tmp_path):
    torch_model = pt_model(pt.DistilBertForSequenceClassification)
    torch_model.config.save_pretrained(tmp_path)
    write_legacy_h5(tmp_path / "tf_model.h5", torch_model.state_dict(), "tf_distil_bert_for_sequence_classification")
    inputs, labels = batch(pt.DistilBertForSequenceClassification, 6)
    expected = run_pt(torch_model, inputs, labels)
    assert_same_outputs(expected, run_tf(dtf.TFDistilBertForSequenceClassification.from_pretrained(tmp_path),
                                         inputs, labels))
    loaded = pt.DistilBertForSequenceClassification.from_pretrained(tmp_path, from_tf=True)
    assert all(torch.equal(value, loaded.state_dict()[key]) for key, value in torch_model.state_dict().items())


def test_refused_h5_files_and_mismatched_checkpoints(tmp_path):
    from distilkit.modeling.tf_weights import read_tf_h5

    whole = tmp_path / "whole.h5"
    with h5py.File(whole, "w") as handle:
        handle.attrs["model_config"] = (b'{"class_name": "Sequential", "config": {"layers": [{"class_name": '
                                        b'"Lambda", "config": {"function": "4wEAAAAAAAAA"}}]}}')
        handle.create_group("model_weights")
    with pytest.raises(CheckpointError, match="whole Keras model.*Lambda"):
        read_tf_h5(whole)
    linked = tmp_path / "linked.h5"
    with h5py.File(linked, "w") as handle:
        handle.attrs["layer_names"] = [b"distilbert"]
        group = handle.create_group("distilbert")
        group.attrs["weight_names"] = [b"m/distilbert/x:0"]
        group["m"] = h5py.ExternalLink("/etc/passwd", "/")
    with pytest.raises(CheckpointError, match="ExternalLink"):
        read_tf_h5(linked)
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(CheckpointError, match="not readable HDF5"):
        read_tf_h5(text)

    pt_model(pt.DistilBertForSequenceClassification).save_pretrained(tmp_path / "small")
    with pytest.raises(CheckpointError, match="shape mismatch.*q_lin"):
        dtf.TFDistilBertForSequenceClassification.from_pretrained(tmp_path / "small", dim=64)


def test_bad_inputs_give_clear_errors():
    keras_model = dtf.TFDistilBertForSequenceClassification(DistilBertConfig(**TINY))
    inputs, _ = batch(pt.DistilBertForSequenceClassification, 0)
    with pytest.raises(InputError, match="labels has shape"):
        keras_model(inputs, labels=np.array([[0, 1], [1, 0], [0, 0]]))
    with pytest.raises(InputError, match="outside \\[0, 2\\)"):
        keras_model(inputs, labels=np.array([0, 1, 5]))
    with pytest.raises(InputError, match="outside the vocabulary"):
        keras_model({"input_ids": np.array([[1, 500]])})
    with pytest.raises(InputError, match="unexpected model inputs \\['colour'\\]"):
        keras_model({**inputs, "colour": inputs["input_ids"]})
    with pytest.raises(InputError, match="at most 40"):
        keras_model({"input_ids": np.ones((1, 41), dtype=np.int64)})
    token = dtf.TFDistilBertForTokenClassification(DistilBertConfig(**TINY))
    with pytest.raises(InputError, match="labels has shape"):
        token(inputs, labels=np.zeros((3, 2), dtype=np.int64))


def test_without_tensorflow_distilkit_imports_and_tf_classes_name_the_extra():
    code = ("import sys; sys.modules['keras'] = None; sys.modules['tensorflow'] = None\n"
            "import distilkit\n"
            "from distilkit.errors import MissingExtraError\n"
            "try:\n    distilkit.TFDistilBertModel\nexcept MissingExtraError as error:\n    print(error)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pip install 'distilkit[tf]'" in result.stdout and len(result.stdout.strip().splitlines()) == 1


# -- the quick tour's TensorFlow blocks, as a script ---------------------------------------------------------------

TF_TOUR = '''
import tensorflow as tf
from distilkit import AutoTokenizer, TFAutoModelForSequenceClassification, TFAutoModel, AutoModel
from distilkit import DistilBertConfig, TFDistilBertForSequenceClassification

tokenizer = AutoTokenizer.from_pretrained(path)
tf_model = TFAutoModelForSequenceClassification.from_pretrained(path)
tf_batch = tokenizer(["We are very happy to show you this.", "We hope you don't hate it."],
                     padding=True, truncation=True, max_length=512, return_tensors="tf")
for key, value in tf_batch.items():
    print(f"{key}: {value.numpy().tolist()}")
tf_outputs = tf_model(tf_batch)
print(tf_outputs)
tf_predictions = tf.nn.softmax(tf_outputs.logits, axis=-1)
print("shape", tuple(tf_predictions.shape))
print("labels", [tf_model.config.id2label[int(i)] for i in tf.argmax(tf_predictions, axis=-1)])
tf_outputs = tf_model(tf_batch, labels=tf.constant([1, 0]))
print("loss shape", tuple(tf_outputs.loss.shape))
tf_outputs = tf_model(tf_batch, output_hidden_states=True, output_attentions=True)
print("hidden", len(tf_outputs.hidden_states), "attention", tuple(tf_outputs.attentions[-1].shape))
tf_model.save_pretrained(save_directory)
tokenizer.save_pretrained(save_directory)
model = TFAutoModel.from_pretrained(save_directory, from_pt=True)     # PyTorch -> TensorFlow
model = AutoModel.from_pretrained(save_directory, from_tf=True)       # TensorFlow -> PyTorch
print(type(model).__name__)
model = TFDistilBertForSequenceClassification(DistilBertConfig(n_heads=8, dim=512, hidden_dim=4 * 512))
model = TFDistilBertForSequenceClassification.from_pretrained(path, num_labels=10)
print("ten labels", tuple(model(tf_batch).logits.shape))
'''

PT_TOUR = '''
import torch
from distilkit import AutoTokenizer, AutoModelForSequenceClassification

tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModelForSequenceClassification.from_pretrained(path)
batch = tokenizer(["We are very happy to show you this.", "We hope you don't hate it."],
                  padding=True, truncation=True, max_length=512, return_tensors="pt")
for key, value in batch.items():
    print(f"{key}: {value.tolist()}")
predictions = torch.softmax(model(**batch).logits, dim=-1)
print("shape", tuple(predictions.shape))
print("labels", [model.config.id2label[int(i)] for i in predictions.argmax(-1)])
outputs = model(**batch, output_hidden_states=True, output_attentions=True)
print("hidden", len(outputs.hidden_states), "attention", tuple(outputs.attentions[-1].shape))
'''


def test_the_quick_tours_tensorflow_blocks_run_and_print_what_the_pytorch_side_prints(tmp_path, capsys):
    path = tmp_path / "sentiment"
    torch_model = pt_model(pt.DistilBertForSequenceClassification, vocab_size=len(VOCAB),
                           id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
    torch_model.save_pretrained(path)
    tokenizers()[0].save_pretrained(path)

    exec(PT_TOUR, {"path": str(path)})
    torch_lines = capsys.readouterr().out.splitlines()
    exec(TF_TOUR, {"path": str(path), "save_directory": str(tmp_path / "saved")})
    tf_lines = capsys.readouterr().out.splitlines()

    assert tf_lines[:2] == torch_lines[:2]  # input_ids and attention_mask, the same ids
    assert tf_lines[2].startswith("TFSequenceClassifierOutput(loss=None, logits=<tf.Tensor: shape=(2, 2)")
    printed = [line for line in tf_lines if line.startswith(("shape", "labels", "hidden"))]
    assert printed == [line for line in torch_lines if line.startswith(("shape", "labels", "hidden"))]
    assert "loss shape (2,)" in tf_lines and "DistilBertModel" in tf_lines and "ten labels (2, 10)" in tf_lines


BACKEND_CHECK = """
import os, sys, tempfile
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np, torch, keras
from distilkit import DistilBertConfig, DistilBertForMaskedLM, TFDistilBertForMaskedLM
torch.manual_seed(0)
model = DistilBertForMaskedLM(DistilBertConfig(**TINY)).eval()
folder = tempfile.mkdtemp()
model.save_pretrained(folder)
twin = TFDistilBertForMaskedLM.from_pretrained(folder)
ids = np.random.default_rng(0).integers(5, 99, (2, 7))
mask = np.ones_like(ids)
mask[1, 4:] = 0
with torch.no_grad():
    expected = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
actual = keras.ops.convert_to_numpy(twin({"input_ids": ids, "attention_mask": mask}).logits)
print(keras.backend.backend(), float(np.abs(actual - expected).max()))
"""


@pytest.mark.slow  # a second Keras import in a subprocess: ~20 s alone, over a minute on a busy machine
def test_the_layers_run_on_keras_pytorch_backend_too():
    result = subprocess.run([sys.executable, "-c", f"TINY = {TINY!r}\n" + BACKEND_CHECK], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "KERAS_BACKEND": "torch"})
    assert result.returncode == 0, result.stderr[-2000:]
    backend, difference = result.stdout.split()
    assert backend == "torch" and float(difference) <= TOLERANCE
