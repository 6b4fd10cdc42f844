"""save_pretrained / from_pretrained: round trips, compatibility handling, load reports and clear failures."""

import json
import logging

import pytest
import torch
from safetensors.torch import load_file, save_file

from distilkit import modeling
from distilkit.auto import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)
from distilkit.configuration import DistilBertConfig, PretrainedConfig
from distilkit.errors import CheckpointError, ConfigError

CLASSES = [modeling.DistilBertModel, modeling.DistilBertForMaskedLM, modeling.DistilBertForSequenceClassification,
           modeling.DistilBertForTokenClassification, modeling.DistilBertForQuestionAnswering,
           modeling.DistilBertForMultipleChoice]


def inputs_for(model_class):
    ids = torch.randint(1, 99, (2, 3, 5) if model_class is modeling.DistilBertForMultipleChoice else (2, 5))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


@pytest.mark.parametrize("model_class", CLASSES)
def test_round_trip_all_classes(model_class, tiny_kwargs, tmp_path):
    model = model_class(DistilBertConfig(**tiny_kwargs)).eval()
    model.save_pretrained(tmp_path)
    loaded = model_class.from_pretrained(tmp_path)
    inputs = inputs_for(model_class)
    with torch.no_grad():
        assert torch.equal(model(**inputs)[0], loaded(**inputs)[0])
    assert loaded.load_report.is_clean
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == [model_class.__name__]
    if model_class is modeling.DistilBertForMaskedLM:
        assert "vocab_projector.weight" not in load_file(tmp_path / "model.safetensors")
        assert loaded.weights_are_tied


def test_sharded_round_trip(tiny_kwargs, tmp_path):
    model = modeling.DistilBertForMaskedLM(DistilBertConfig(**tiny_kwargs)).eval()
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1 and not (tmp_path / "model.safetensors").exists()
    loaded = modeling.DistilBertForMaskedLM.from_pretrained(tmp_path)
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    # saving again unsharded removes the stale shards
    model.save_pretrained(tmp_path)
    assert not any((tmp_path / shard).exists() for shard in shards)
    modeling.DistilBertForMaskedLM.from_pretrained(tmp_path)


def test_base_checkpoint_into_head_and_back(tiny_kwargs, tmp_path):
    base = modeling.DistilBertModel(DistilBertConfig(**tiny_kwargs)).eval()
    base.save_pretrained(tmp_path / "base")
    head = modeling.DistilBertForSequenceClassification.from_pretrained(tmp_path / "base", num_labels=3)
    assert head.load_report.missing == ["classifier.bias", "classifier.weight", "pre_classifier.bias",
                                        "pre_classifier.weight"]
    ids = inputs_for(modeling.DistilBertModel)
    with torch.no_grad():
        assert torch.equal(head.distilbert(**ids)[0], base(**ids)[0])
    head.save_pretrained(tmp_path / "head")
    stripped = AutoModel.from_pretrained(tmp_path / "head")
    assert isinstance(stripped, modeling.DistilBertModel)
    assert stripped.load_report.unexpected == ["classifier.bias", "classifier.weight", "pre_classifier.bias",
                                               "pre_classifier.weight"]


def test_mismatched_head_is_reinitialised_and_reported(tiny_kwargs, tmp_path, caplog):
    modeling.DistilBertForSequenceClassification(DistilBertConfig(**tiny_kwargs)).save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING):
        model = modeling.DistilBertForSequenceClassification.from_pretrained(tmp_path, num_labels=10)
    assert model.config.num_labels == 10 and model.classifier.weight.shape == (10, 32)
    assert [key for key, _, _ in model.load_report.mismatched] == ["classifier.bias", "classifier.weight"]
    assert "classifier.weight" in caplog.text


def test_encoder_shape_mismatch_lists_every_key(tiny_kwargs, tmp_path):
    modeling.DistilBertModel(DistilBertConfig(**tiny_kwargs)).save_pretrained(tmp_path)
    wider = DistilBertConfig(**dict(tiny_kwargs, dim=64))
    with pytest.raises(CheckpointError) as raised:
        modeling.DistilBertModel.from_pretrained(tmp_path, config=wider)
    message = str(raised.value)
    for key in ("embeddings.word_embeddings.weight", "transformer.layer.1.ffn.lin2.weight"):
        assert key in message
    loaded = modeling.DistilBertModel.from_pretrained(tmp_path, config=wider, ignore_mismatched_sizes=True)
    assert loaded.load_report.mismatched


def test_missing_encoder_weights_are_an_error(tiny_kwargs, tmp_path):
    model = modeling.DistilBertModel(DistilBertConfig(**tiny_kwargs))
    model.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    del state["transformer.layer.0.ffn.lin1.weight"]
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="transformer.layer.0.ffn.lin1.weight"):
        modeling.DistilBertModel.from_pretrained(tmp_path)
    loaded = modeling.DistilBertModel.from_pretrained(tmp_path, strict=False)
    assert loaded.load_report.missing == ["transformer.layer.0.ffn.lin1.weight"]


def test_legacy_names_stale_buffer_and_untied_projector(tiny_kwargs, tmp_path):
    model = modeling.DistilBertForMaskedLM(DistilBertConfig(**tiny_kwargs)).eval()
    model.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    legacy = {key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): value
              for key, value in state.items()}
    legacy["distilbert.embeddings.position_ids"] = torch.arange(40)[None]
    legacy["vocab_projector.weight"] = state["distilbert.embeddings.word_embeddings.weight"].clone()
    save_file(legacy, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded = modeling.DistilBertForMaskedLM.from_pretrained(tmp_path)
    assert loaded.load_report.is_clean and loaded.weights_are_tied
    ids = inputs_for(modeling.DistilBertModel)
    with torch.no_grad():
        assert torch.equal(model(**ids).logits, loaded(**ids).logits)

    legacy["vocab_projector.weight"] = torch.randn(99, 32)  # a checkpoint whose projector really differs
    save_file(legacy, tmp_path / "model.safetensors", metadata={"format": "pt"})
    untied = modeling.DistilBertForMaskedLM.from_pretrained(tmp_path)
    assert not untied.weights_are_tied
    assert torch.equal(untied.vocab_projector.weight, legacy["vocab_projector.weight"])


def test_key_mapping_and_dtype(tiny_kwargs, tmp_path):
    model = modeling.DistilBertModel(DistilBertConfig(**tiny_kwargs))
    state = {f"encoder_{key}": value for key, value in model.state_dict().items() if "position_ids" not in key}
    save_file(state, tmp_path / "model.safetensors")
    DistilBertConfig(**tiny_kwargs).save_pretrained(tmp_path)
    loaded = modeling.DistilBertModel.from_pretrained(tmp_path, key_mapping={r"^encoder_": ""},
                                                      dtype=torch.bfloat16)
    assert loaded.dtype == torch.bfloat16 and loaded.load_report.is_clean
    with pytest.raises(ConfigError, match="dtype"):
        modeling.DistilBertModel.from_pretrained(tmp_path, key_mapping={r"^encoder_": ""}, dtype="int3")


def test_docs_snippets(tiny_kwargs, tmp_path):
    my_config = DistilBertConfig(**dict(tiny_kwargs, activation="relu", attention_dropout=0.4))
    my_config.save_pretrained(save_directory=tmp_path / "config")
    assert DistilBertConfig.from_pretrained(tmp_path / "config" / "config.json") == my_config
    modeling.DistilBertModel(my_config).save_pretrained(tmp_path / "model")
    model = modeling.DistilBertModel.from_pretrained(tmp_path / "model", config=my_config)
    assert model.config.activation == "relu"
    classifier = modeling.DistilBertForSequenceClassification.from_pretrained(tmp_path / "model", num_labels=10)
    batch = {"input_ids": torch.randint(1, 99, (2, 6)), "attention_mask": torch.ones(2, 6, dtype=torch.long)}
    output = classifier(**batch, labels=torch.tensor([1, 0]))
    assert output.loss is not None and output.logits.shape == (2, 10)
    output = classifier(**batch, output_hidden_states=True, output_attentions=True)
    assert len(output.hidden_states) == 3 and len(output.attentions) == 2
    with pytest.raises(ConfigError, match="unknown arguments"):
        modeling.DistilBertModel.from_pretrained(tmp_path / "model", n_layerz=3)


def populate_hub_cache(cache, repo_id, source_dir):
    """Lay files out as huggingface_hub's cache does: blobs, refs/main and a snapshot of links."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for index, path in enumerate(sorted(source_dir.iterdir())):
        blob = repo / "blobs" / f"blob{index}"
        blob.write_bytes(path.read_bytes())
        (snapshot / path.name).symlink_to(f"../../blobs/blob{index}")


@pytest.mark.parametrize("auto_class", [AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification,
                                        AutoModelForTokenClassification, AutoModelForQuestionAnswering,
                                        AutoModelForMultipleChoice])
def test_hub_id_resolves_offline_from_cache(auto_class, tiny_kwargs, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    modeling.DistilBertForMaskedLM(DistilBertConfig(**tiny_kwargs)).save_pretrained(tmp_path / "source")
    populate_hub_cache(tmp_path / "hub", "distilbert/distilbert-base-uncased", tmp_path / "source")
    model = auto_class.from_pretrained("distilbert/distilbert-base-uncased", cache_dir=tmp_path / "hub")
    assert type(model).__name__ in ("DistilBertModel", "DistilBertForMaskedLM") or model.load_report.missing
    assert AutoConfig.from_pretrained("distilbert/distilbert-base-uncased", cache_dir=tmp_path / "hub").dim == 32


def test_uncached_hub_id_gives_a_clear_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError) as raised:
        modeling.DistilBertModel.from_pretrained("someone/not-cached-model", cache_dir=tmp_path)
    message = str(raised.value)
    assert "someone/not-cached-model" in message and "config.json" in message


def test_custom_model_registration(tiny_kwargs, tmp_path):
    class TinyConfig(PretrainedConfig):
        model_type = "tiny-custom-test"
        model_fields = {"width": (8, (int,))}

    class TinyClassifier(modeling.PreTrainedModel):
        config_class = TinyConfig
        base_model_prefix = "body"

        def __init__(self, config):
            super().__init__(config)
            self.body = torch.nn.Linear(config.width, config.width)
            self.head = torch.nn.Linear(config.width, config.num_labels)
            self.post_init()

        def _init_weights(self, module):
            if isinstance(module, torch.nn.Linear):
                module.weight.data.normal_(0, 0.02)
                module.bias.data.zero_()

        def forward(self, features):
            return modeling.SequenceClassifierOutput(logits=self.head(self.body(features)))

    with pytest.raises(ConfigError, match="not registered"):
        AutoConfig.for_model("tiny-custom-test")
    AutoConfig.register("tiny-custom-test", TinyConfig)
    AutoModelForSequenceClassification.register(TinyConfig, TinyClassifier)
    with pytest.raises(ConfigError, match="already"):
        AutoConfig.register("tiny-custom-test", TinyConfig)
    with pytest.raises(ConfigError, match="config_class"):
        AutoModel.register(DistilBertConfig, TinyClassifier)

    model = TinyClassifier(TinyConfig(width=4, num_labels=3))
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert isinstance(loaded, TinyClassifier) and loaded.config.width == 4
    features = torch.randn(2, 4)
    assert torch.equal(loaded(features).logits, model(features).logits)
    with pytest.raises(ConfigError, match="no model"):
        AutoModelForQuestionAnswering.from_pretrained(tmp_path)


def test_a_model_built_in_another_thread_during_from_pretrained_is_initialised(tmp_path, tiny_kwargs):
    # issue 12 item 10: "skip init" is a context variable, not a process-wide flag
    import threading

    from distilkit.modeling import DistilBertModel

    DistilBertModel(DistilBertConfig(**tiny_kwargs)).save_pretrained(tmp_path)
    loading, built = threading.Event(), threading.Event()
    other = {}

    class Pausing(DistilBertModel):
        def __init__(self, config):
            super().__init__(config)
            loading.set()  # from_pretrained is building this model with initialisation skipped
            assert built.wait(30)

    def build_elsewhere():
        assert loading.wait(30)
        other["model"] = DistilBertModel(DistilBertConfig(**tiny_kwargs, initializer_range=0.02))
        built.set()

    thread = threading.Thread(target=build_elsewhere)
    thread.start()
    Pausing.from_pretrained(tmp_path)
    thread.join(30)
    # initialised: N(0, 0.02) rows, not nn.Embedding's N(0, 1) default left by a skipped init
    assert other["model"].embeddings.word_embeddings.weight.std() < 0.1
