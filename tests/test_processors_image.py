"""ViTImageProcessor and AutoImageProcessor: settings, inputs, outputs, files, registry."""

import json
import logging
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from distilkit.errors import ConfigError, InputError
from distilkit.processors import AutoImageProcessor, BatchFeature, ViTImageProcessor


def _expected_no_resize(pixels_hwc_uint8, mean=0.5, std=0.5):
    """Rescale and normalise by hand, apart from the processor: (x / 255 - mean) / std, channels first."""
    scaled = pixels_hwc_uint8.astype(np.float64) / 255
    return ((scaled - mean) / std).transpose(2, 0, 1)


def test_defaults_follow_the_reference():
    processor = ViTImageProcessor()
    assert processor.to_dict() == {
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_processor_type": "ViTImageProcessor",
        "image_std": [0.5, 0.5, 0.5],
        "resample": 2,
        "rescale_factor": 1 / 255,
        "size": {"height": 224, "width": 224},
    }


def test_constructor_overrides_and_size_forms():
    processor = ViTImageProcessor(resample=3, do_normalize=False, image_mean=[0.3, 0.3, 0.3])
    assert (processor.resample, processor.do_normalize, processor.image_mean) == (3, False, [0.3, 0.3, 0.3])
    assert ViTImageProcessor(size=64).size == {"height": 64, "width": 64}
    assert ViTImageProcessor(size=(32, 48)).size == {"height": 32, "width": 48}
    assert ViTImageProcessor(resample=Image.Resampling.BICUBIC).to_dict()["resample"] == 3


def test_values_without_resize_match_hand_computation():
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    output = ViTImageProcessor(do_resize=False)(pixels, return_tensors="np")["pixel_values"]
    assert output.shape == (1, 3, 5, 7) and output.dtype == np.float32
    np.testing.assert_allclose(output[0], _expected_no_resize(pixels), atol=1e-6)
    custom = ViTImageProcessor(do_resize=False, image_mean=[0.3, 0.3, 0.3], image_std=0.25)
    np.testing.assert_allclose(
        custom(pixels, return_tensors="np")["pixel_values"][0],
        _expected_no_resize(pixels, 0.3, 0.25),
        atol=1e-5,
    )
    unnormalised = ViTImageProcessor(do_resize=False, do_normalize=False)(pixels, return_tensors="np")
    np.testing.assert_allclose(unnormalised["pixel_values"][0], pixels.transpose(2, 0, 1) / 255, atol=1e-7)


def test_resize_is_pillow_bilinear_then_normalised():
    pixels = np.random.default_rng(1).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    resized = np.array(Image.fromarray(pixels).resize((16, 20), resample=Image.Resampling.BILINEAR))
    output = ViTImageProcessor(size={"height": 20, "width": 16})(pixels, return_tensors="np")["pixel_values"]
    np.testing.assert_allclose(output[0], _expected_no_resize(resized), atol=1e-6)


def test_input_kinds_agree():
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (12, 9, 3), dtype=np.uint8)
    processor = ViTImageProcessor(size=8)
    reference = processor(pixels, return_tensors="np")["pixel_values"]
    same = [
        Image.fromarray(pixels),
        pixels.transpose(2, 0, 1),  # CHW
        torch.from_numpy(pixels.transpose(2, 0, 1).copy()),
        pixels.astype(np.float32),  # whole-number floats in 0..255
    ]
    for image in same:
        np.testing.assert_array_equal(processor(image, return_tensors="np")["pixel_values"], reference)


def test_floats_in_unit_range_are_not_rescaled_twice_silently(caplog):
    pixels = np.random.default_rng(2).integers(0, 256, (12, 9, 3), dtype=np.uint8)
    from_uint8 = ViTImageProcessor(size=8)(pixels, return_tensors="np")["pixel_values"]
    floats = pixels.astype(np.float32) / 255  # go through 0..255 for the resize, and back
    from_floats = ViTImageProcessor(size=8, do_rescale=False)(floats, return_tensors="np")["pixel_values"]
    np.testing.assert_allclose(from_floats, from_uint8, atol=1e-5)
    with caplog.at_level(logging.WARNING):
        rescaled_twice = ViTImageProcessor(size=8)(floats, return_tensors="np")["pixel_values"]
    assert (
        "already in [0, 1]" in caplog.text
    )  # the reference's rule (x * rescale_factor) applies, with a warning
    np.testing.assert_allclose(rescaled_twice, (from_floats * 0.5 + 0.5) / 255 / 0.5 - 1, atol=1e-5)


def test_batches_and_return_types():
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (10 + index, 12, 3), dtype=np.uint8) for index in range(3)]
    processor = ViTImageProcessor(size=8)
    as_list = processor(images)
    assert isinstance(as_list, BatchFeature) and isinstance(as_list.pixel_values, list)
    assert [array.shape for array in as_list.pixel_values] == [(3, 8, 8)] * 3
    as_numpy = processor(images, return_tensors="np")["pixel_values"]
    as_torch = processor(images, return_tensors="pt")["pixel_values"]
    assert as_numpy.shape == (3, 3, 8, 8) and isinstance(as_torch, torch.Tensor)
    assert as_torch.dtype == torch.float32
    np.testing.assert_array_equal(as_torch.numpy(), as_numpy)
    for index, image in enumerate(images):  # a batch gives what each image gives alone
        np.testing.assert_array_equal(
            processor(image, return_tensors="np")["pixel_values"][0], as_numpy[index]
        )
    four_d = np.stack([images[0][:10]] * 2)  # (2, H, W, C)
    assert processor(four_d, return_tensors="np")["pixel_values"].shape == (2, 3, 8, 8)


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(np.full((6, 6), 200, dtype=np.uint8), mode="L"),
        np.full((6, 6), 200, dtype=np.uint8),  # 2-d greyscale array
        np.full((6, 6, 1), 200, dtype=np.uint8),
    ],
)
def test_greyscale_becomes_rgb(image):
    output = ViTImageProcessor(do_resize=False)(image, return_tensors="np")["pixel_values"]
    assert output.shape == (1, 3, 6, 6)
    np.testing.assert_allclose(output, (200 / 255 - 0.5) / 0.5, atol=1e-6)


def test_rgba_is_composited_onto_white():
    rgba = np.zeros((5, 6, 4), dtype=np.uint8)  # black, fully transparent
    rgba[0, 0] = (0, 0, 0, 255)  # one opaque black pixel
    for image in (rgba, Image.fromarray(rgba, mode="RGBA")):
        output = ViTImageProcessor(do_resize=False, do_normalize=False)(image, return_tensors="np")[
            "pixel_values"
        ]
        assert output.shape == (1, 3, 5, 6)
        assert output[0, :, 0, 0].tolist() == [0, 0, 0]
        assert np.all(output[0, :, 1:, :] == 1.0)


def test_convert_rgb_false_keeps_channels_and_needs_matching_mean():
    grey = np.full((5, 5, 1), 10, dtype=np.uint8)
    kept = ViTImageProcessor(do_resize=False, do_convert_rgb=False, image_mean=0.5, image_std=0.5)
    assert kept(grey, return_tensors="np")["pixel_values"].shape == (1, 1, 5, 5)
    with pytest.raises(InputError, match="image_mean has 3 values but the image has 1 channels"):
        ViTImageProcessor(do_resize=False, do_convert_rgb=False)(grey)


def test_call_overrides_and_unknown_arguments():
    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    processor = ViTImageProcessor()
    assert processor(pixels, size=16, return_tensors="np")["pixel_values"].shape == (1, 3, 16, 16)
    assert processor.size == {"height": 224, "width": 224}  # a call override does not change the processor
    with pytest.raises(InputError, match="Unknown argument"):
        processor(pixels, do_resise=False)
    channels_last = np.zeros((3, 5, 3), dtype=np.uint8)  # ambiguous: 3 first and last
    assert processor(channels_last, input_data_format="channels_last", do_resize=False, return_tensors="np")[
        "pixel_values"
    ].shape == (1, 3, 3, 5)


def test_save_load_round_trip_keeps_unknown_keys(tmp_path):
    processor = ViTImageProcessor(
        resample=3, do_normalize=False, image_mean=[0.3, 0.3, 0.3], do_convert_rgb=True
    )
    paths = processor.save_pretrained(tmp_path)
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["preprocessor_config.json"]
    assert ViTImageProcessor.from_pretrained(tmp_path) == processor
    data = json.loads((tmp_path / "preprocessor_config.json").read_text())
    data["crop_pct"] = 0.9
    data["do_center_crop"] = False
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(data))
    loaded = ViTImageProcessor.from_pretrained(tmp_path / "preprocessor_config.json", do_normalize=True)
    assert loaded.extras == {"crop_pct": 0.9, "do_center_crop": False} and loaded.do_normalize is True
    loaded.save_pretrained(tmp_path / "again")
    again = json.loads((tmp_path / "again" / "preprocessor_config.json").read_text())
    assert again["crop_pct"] == 0.9 and again["do_normalize"] is True
    with pytest.raises(ConfigError, match="no setting"):
        ViTImageProcessor.from_pretrained(tmp_path, do_normalise=True)


def test_legacy_config_and_nested_processor_config(tmp_path):
    legacy = {
        "feature_extractor_type": "ViTFeatureExtractor",
        "size": 32,
        "do_resize": True,
        "resample": 2,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(legacy))
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, ViTImageProcessor) and loaded.size == {"height": 32, "width": 32}
    assert "feature_extractor_type" not in loaded.to_dict()
    nested = tmp_path / "nested"
    nested.mkdir()
    (nested / "processor_config.json").write_text(
        json.dumps(
            {
                "image_processor": {
                    "image_processor_type": "ViTImageProcessorFast",
                    "size": {"height": 8, "width": 8},
                },
                "processor_class": "SomeProcessor",
            }
        )
    )
    assert AutoImageProcessor.from_pretrained(nested).size == {"height": 8, "width": 8}


def test_model_type_fallback_and_registry(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"size": 16}))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    assert AutoImageProcessor.from_pretrained(tmp_path).size == {"height": 16, "width": 16}
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ConfigError, match="records no image processor type"):
        AutoImageProcessor.from_pretrained(tmp_path)

    class TinyImageProcessor(ViTImageProcessor):
        pass

    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps({"image_processor_type": "TinyImageProcessor"})
    )
    with pytest.raises(ConfigError, match="not registered"):
        AutoImageProcessor.from_pretrained(tmp_path)
    AutoImageProcessor.register("TinyImageProcessor", TinyImageProcessor)
    try:
        assert type(AutoImageProcessor.from_pretrained(tmp_path)) is TinyImageProcessor
        with pytest.raises(ConfigError, match="already registered"):
            AutoImageProcessor.register("TinyImageProcessor", ViTImageProcessor)
        AutoImageProcessor.register("TinyImageProcessor", ViTImageProcessor, exist_ok=True)
    finally:
        del AutoImageProcessor._registry["TinyImageProcessor"]
    with pytest.raises(TypeError):
        AutoImageProcessor()


def test_invalid_settings_raise_config_error():
    for settings in (
        {"size": {"shortest_edge": 224}},
        {"size": 0},
        {"resample": 9},
        {"image_std": [0.5, 0, 0.5]},
        {"do_resize": "yes"},
        {"rescale_factor": float("nan")},
        {"image_mean": []},
    ):
        with pytest.raises(ConfigError):
            ViTImageProcessor(**settings)
    with pytest.raises(ConfigError, match="do_center_crop"):
        ViTImageProcessor.from_dict({"do_center_crop": True})


def test_pillow_is_not_needed_without_resize(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "PIL", None)  # importing Pillow now fails
    processor = ViTImageProcessor(do_resize=False)
    assert processor(np.zeros((3, 4, 5), dtype=np.uint8), return_tensors="np")["pixel_values"].shape == (
        1,
        3,
        4,
        5,
    )
    with pytest.raises(ImportError, match="distilkit\\[image\\]"):
        ViTImageProcessor()(np.zeros((3, 4, 5), dtype=np.uint8))
    with caplog.at_level(logging.WARNING):
        processor(np.zeros((3, 4, 3), dtype=np.uint8))
    assert "both its first and last axes could be channels" in caplog.text


# -- issue 12, item 11: every spelling of a Pillow filter, printed and saved as given -------------------------------

BOX_SPELLINGS = ["PIL.Image.BOX", "box", "BOX", "Image.Resampling.BOX", "PIL.Image.Resampling.BOX",
                 Image.Resampling.BOX, 4, np.int64(4)]


@pytest.mark.parametrize("resample", BOX_SPELLINGS, ids=repr)
def test_every_spelling_of_a_pillow_filter_resizes_with_that_filter(resample):
    pixels = np.random.default_rng(0).integers(0, 256, size=(21, 17, 3), dtype=np.uint8)
    processor = ViTImageProcessor(resample=resample, size=(8, 6), do_rescale=False, do_normalize=False)
    expected = np.array(Image.fromarray(pixels).resize((6, 8), resample=Image.Resampling.BOX))  # (H, W, C)
    bilinear = np.array(Image.fromarray(pixels).resize((6, 8), resample=Image.Resampling.BILINEAR))
    assert not np.array_equal(expected, bilinear)  # the filter makes a difference on this image
    output = processor(Image.fromarray(pixels))["pixel_values"][0]  # (C, H, W)
    np.testing.assert_array_equal(output, np.moveaxis(expected, -1, 0).astype(np.float32))
    # a per-call override takes the same spellings
    override = ViTImageProcessor(size=(8, 6), do_rescale=False, do_normalize=False)(
        Image.fromarray(pixels), resample=resample)["pixel_values"][0]
    np.testing.assert_array_equal(override, output)


def test_the_guides_processor_prints_and_saves_resample_as_written(tmp_path):
    processor = ViTImageProcessor(resample="PIL.Image.BOX", do_normalize=False, image_mean=[0.3, 0.3, 0.3])
    assert '"resample": "PIL.Image.BOX"' in str(processor)
    processor.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "preprocessor_config.json").read_text())["resample"] == "PIL.Image.BOX"
    loaded = ViTImageProcessor.from_pretrained(tmp_path)
    assert loaded.resample == "PIL.Image.BOX" and loaded == processor
    readme = ViTImageProcessor(resample="bicubic", do_normalize=False, image_mean=[0.3, 0.3, 0.3])  # README's
    assert readme.to_dict()["resample"] == "bicubic"
    assert ViTImageProcessor(resample=Image.Resampling.BOX).to_dict()["resample"] == 4


@pytest.mark.parametrize("resample", ["PIL.Image.FANCY", "boxy", "", "Image.", 7, -1, True, 2.0, None])
def test_unknown_filters_are_refused_naming_the_value_and_the_choices(resample):
    with pytest.raises(ConfigError, match=r"resample=.* is not a Pillow filter; use a name \(nearest, lanczos"):
        ViTImageProcessor(resample=resample)
