"""The PyTorch Auto classes and the TensorFlow ones share one registry/dispatch base (`distilkit/model_registry.py`):
the same rules and messages for both, the model base class named per family, and registries that stay apart (a
Keras model registered with a TFAuto class is not a PyTorch model, and the reverse)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import TINY  # noqa: E402

import distilkit.auto as auto  # noqa: E402
import distilkit.tf as dtf  # noqa: E402
from distilkit import DistilBertConfig  # noqa: E402
from distilkit.errors import ConfigError  # noqa: E402
from distilkit.modeling import DistilBertForSequenceClassification, DistilBertModel  # noqa: E402

FAMILIES = [
    (auto.AutoModel, auto.AutoModelForSequenceClassification, DistilBertModel, "PreTrainedModel"),
    (dtf.TFAutoModel, dtf.TFAutoModelForSequenceClassification, dtf.TFDistilBertModel, "TFPreTrainedModel"),
]


class RegistryTestConfig(DistilBertConfig):
    model_type = "registry-test"


class TFRegistryTestModel(dtf.TFDistilBertModel):
    config_class = RegistryTestConfig


class RegistryTestModel(DistilBertModel):
    config_class = RegistryTestConfig


@pytest.fixture
def keras_model_registered():
    dtf.TFAutoModel.register(RegistryTestConfig, TFRegistryTestModel)
    yield
    dtf.TFAutoModel._registry.pop(RegistryTestConfig)


@pytest.mark.parametrize("family", FAMILIES, ids=["torch", "tf"])
def test_both_families_apply_the_same_rules_naming_their_model_base(family):
    base_auto, task_auto, base_model, base_name = family
    with pytest.raises(TypeError, match=f"{base_auto.__name__} is not instantiated; use from_pretrained"):
        base_auto()
    with pytest.raises(ConfigError, match=f"^{dict!r} is not a {base_name} subclass$"):
        base_auto.register(DistilBertConfig, dict)
    other = TFRegistryTestModel if base_name == "PreTrainedModel" else RegistryTestModel
    with pytest.raises(ConfigError, match=f"is not a {base_name} subclass"):  # the other family's model
        base_auto.register(RegistryTestConfig, other)
    with pytest.raises(ConfigError, match=f"^{base_model.__name__}.config_class must be RegistryTestConfig"):
        base_auto.register(RegistryTestConfig, base_model)
    with pytest.raises(ConfigError, match=f"DistilBertConfig already has a model in {base_auto.__name__} "
                                          f"\\({base_model.__name__}\\); pass exist_ok=True"):
        base_auto.register(DistilBertConfig, base_model)
    base_auto.register(DistilBertConfig, base_model, exist_ok=True)  # the same again, allowed
    assert base_auto.model_class_for(DistilBertConfig) is base_model
    with pytest.raises(ConfigError, match=f"^{task_auto.__name__} has no model for RegistryTestConfig "
                                          r"\(model_type='registry-test'\); known model types: distilbert$"):
        task_auto.model_class_for(RegistryTestConfig)


def test_an_unknown_model_type_is_refused_by_each_family_in_its_own_words(tmp_path):
    DistilBertConfig(**TINY).save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**data, "model_type": "gpt2"}))
    with pytest.raises(ConfigError, match=r"model_type='gpt2', which is not registered \(known: distilbert\); "
                                          r"register it with AutoConfig.register"):
        auto.AutoModel.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match=r"model_type='gpt2', for which TFAutoModel has no model \(known: "
                                          r"distilbert\); register one with TFAutoModel.register\(ConfigClass, "
                                          r"TFModelClass\)"):
        dtf.TFAutoModel.from_pretrained(tmp_path)


def test_a_keras_model_registered_with_a_tfauto_class_stays_out_of_the_pytorch_registries(keras_model_registered,
                                                                                         tmp_path):
    TFRegistryTestModel(RegistryTestConfig(**TINY)).save_pretrained(tmp_path)
    assert type(dtf.TFAutoModel.from_pretrained(tmp_path)) is TFRegistryTestModel
    assert "TFRegistryTestModel" not in auto.registered_model_classes()
    assert RegistryTestConfig not in auto.AutoModel._registry
    assert RegistryTestConfig not in dtf.TFAutoModelForSequenceClassification._registry  # one registry per task
    with pytest.raises(ConfigError, match="AutoModel has no model for RegistryTestConfig"):
        auto.AutoModel.from_config(RegistryTestConfig(**TINY))
    # the checkpoint is an ordinary DistilBERT one: the PyTorch class of that config reads it
    torch_model = DistilBertModel.from_pretrained(tmp_path)
    assert isinstance(torch_model, DistilBertModel)


def test_from_config_builds_the_registered_class_in_each_family():
    config = DistilBertConfig(**TINY, num_labels=3)
    assert type(auto.AutoModelForSequenceClassification.from_config(config)) is DistilBertForSequenceClassification
    keras_model = dtf.TFAutoModelForSequenceClassification.from_config(config)
    assert type(keras_model) is dtf.TFDistilBertForSequenceClassification
    ids = torch.tensor([[1, 2, 3]])
    assert keras_model(ids.numpy()).logits.shape == (1, 3)
