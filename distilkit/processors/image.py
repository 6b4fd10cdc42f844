"""ViT image processor: images (PIL, numpy, torch; one or a batch) -> `pixel_values` of shape (B, 3, H, W).

Follows the reference's PIL-based `ViTImageProcessor` (`ViTImageProcessorPil` in Transformers 5.x, what it
falls back to without torchvision): convert to RGB -> resize through Pillow -> rescale by 1/255 -> normalise,
with the same float64/float32 casts so the arrays match bit for bit. Unlike the reference, greyscale and RGBA
images become RGB by default (`do_convert_rgb=None`), and bad images raise `InputError`. Pillow (extra
`image`) is imported only to read PIL images and to resize.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError, InputError
from ..limits import max_image_pixels
from .base import (
    BatchFeature,
    Preprocessor,
    check_bool,
    check_number,
    check_positive_int,
    check_return_tensors,
    is_torch_tensor,
    tensor_to_numpy,
)

logger = logging.getLogger(__name__)

# Pillow's resampling filters by their integer codes (what `resample` holds in preprocessor_config.json).
RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
# Older Pillow names of the same filters, still found in configs and tutorials.
RESAMPLE_ALIASES = {"antialias": 1, "linear": 2, "cubic": 3}


def resample_code(resample: Any) -> int:
    """The Pillow filter code of any spelling users write for a filter; ConfigError for anything else.

    ``4``, ``PIL.Image.Resampling.BOX`` (an IntEnum), ``"box"``, ``"BOX"``, ``"PIL.Image.BOX"`` and
    ``"Image.Resampling.BOX"`` all give 4.
    """
    if isinstance(resample, (int, np.integer)) and not isinstance(resample, bool) and int(resample) in RESAMPLE_NAMES:
        return int(resample)
    if isinstance(resample, str):
        name = resample.strip()
        for prefix in ("pil.", "image.", "resampling."):  # "PIL.Image.Resampling.BOX" -> "BOX"
            if name.lower().startswith(prefix):
                name = name[len(prefix):]
        codes = {text: code for code, text in RESAMPLE_NAMES.items()} | RESAMPLE_ALIASES
        if name.lower() in codes:
            return codes[name.lower()]
    raise ConfigError(
        f"resample={resample!r} is not a Pillow filter; use a name ({', '.join(RESAMPLE_NAMES.values())}, in any "
        "case, optionally written 'PIL.Image.BOX'), a PIL.Image.Resampling member, or its code "
        f"({', '.join(f'{code} = {name}' for code, name in RESAMPLE_NAMES.items())})."
    )
CHANNEL_COUNTS = (1, 3, 4)
DATA_FORMATS = (None, "channels_first", "channels_last")


def _pil_image_module() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "Resizing and reading PIL images need Pillow: pip install 'distilkit[image]' "
            "(or pass numpy arrays with do_resize=False)."
        ) from None
    return Image


def _is_pil_image(value: Any) -> bool:
    module = sys.modules.get("PIL.Image")  # a PIL image can only exist once Pillow is imported
    return module is not None and isinstance(value, module.Image)


def _per_channel(name: str, value: float | list[float], channels: int) -> list[float]:
    if isinstance(value, list):
        if len(value) != channels:
            raise InputError(
                f"{name} has {len(value)} values but the image has {channels} channels; give one "
                "value per channel (or keep do_convert_rgb unset so images become 3-channel RGB)."
            )
        return value
    return [value] * channels


class ViTImageProcessor(Preprocessor):
    """Resize, rescale and normalise images for a ViT-style model.

    >>> processor = ViTImageProcessor(size={"height": 32, "width": 32})
    >>> processor(np.zeros((40, 60, 3), dtype=np.uint8), return_tensors="np")["pixel_values"].shape
    (1, 3, 32, 32)
    """

    type_key: ClassVar[str] = "image_processor_type"
    nested_key: ClassVar[str] = "image_processor"
    aliases: ClassVar[tuple[str, ...]] = ("ViTImageProcessorFast", "ViTImageProcessorPil")
    model_input_names: ClassVar[list[str]] = ["pixel_values"]

    def __init__(
        self,
        *,
        do_resize: bool = True,
        size: int | tuple[int, int] | list[int] | dict[str, int] | None = None,
        resample: int | str = 2,
        do_rescale: bool = True,
        rescale_factor: float = 1 / 255,
        do_normalize: bool = True,
        image_mean: float | list[float] | tuple[float, ...] | None = None,
        image_std: float | list[float] | tuple[float, ...] | None = None,
        do_convert_rgb: bool | None = None,
    ) -> None:
        super().__init__()
        self.do_resize = check_bool("do_resize", do_resize)
        self.size = self._check_size(size)
        self.resample = self._check_resample(resample)
        self.do_rescale = check_bool("do_rescale", do_rescale)
        self.rescale_factor = check_number("rescale_factor", rescale_factor)
        self.do_normalize = check_bool("do_normalize", do_normalize)
        self.image_mean = self._check_stats(
            "image_mean", [0.5, 0.5, 0.5] if image_mean is None else image_mean
        )
        self.image_std = self._check_stats("image_std", [0.5, 0.5, 0.5] if image_std is None else image_std)
        if any(
            value == 0 for value in (self.image_std if isinstance(self.image_std, list) else [self.image_std])
        ):
            raise ConfigError(f"image_std={self.image_std!r} has a zero: normalising would divide by zero.")
        # None: convert only images that are not already RGB (greyscale, RGBA, palette); False: never convert.
        self.do_convert_rgb = None if do_convert_rgb is None else check_bool("do_convert_rgb", do_convert_rgb)

    @staticmethod
    def _check_size(size: Any) -> dict[str, int]:
        if size is None:
            return {"height": 224, "width": 224}
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
            size = {"height": size, "width": size}
        elif isinstance(size, (list, tuple)) and len(size) == 2:
            size = {"height": size[0], "width": size[1]}
        if not isinstance(size, dict) or set(size) != {"height", "width"}:
            raise ConfigError(
                f"size={size!r} is not supported: give an int, (height, width), or "
                '{"height": H, "width": W} (shortest_edge / max_height resizing is not implemented).'
            )
        checked = {key: check_positive_int(f"size[{key!r}]", size[key]) for key in ("height", "width")}
        if checked["height"] * checked["width"] > max_image_pixels():
            raise ConfigError(
                f"size={checked} is {checked['height'] * checked['width']:,} pixels per image, over the limit of "
                f"{max_image_pixels():,} (DISTILKIT_MAX_IMAGE_PIXELS); ViT models use e.g. 224 x 224."
            )
        return checked

    @staticmethod
    def _check_resample(resample: Any) -> int | str:
        """Kept as given (printed and saved that way, as the reference does); resolved when resizing."""
        resample_code(resample)
        return resample if isinstance(resample, (int, str)) else int(resample)  # numpy ints are not JSON

    @staticmethod
    def _check_stats(name: str, value: Any) -> float | list[float]:
        if isinstance(value, (list, tuple)):
            if not value:
                raise ConfigError(f"{name} is empty; give one value per channel, e.g. [0.5, 0.5, 0.5].")
            return [float(check_number(f"{name}[{index}]", item)) for index, item in enumerate(value)]
        return float(check_number(name, value))

    @classmethod
    def known_keys(cls) -> tuple[str, ...]:
        return (
            "do_resize",
            "size",
            "resample",
            "do_rescale",
            "rescale_factor",
            "do_normalize",
            "image_mean",
            "image_std",
            "do_convert_rgb",
        )

    @classmethod
    def check_extras(cls, extras: dict[str, Any]) -> dict[str, Any]:
        for key in ("do_center_crop", "do_pad"):
            if extras.get(key):
                raise ConfigError(
                    f"The image processor config sets {key}=true, which ViTImageProcessor does not "
                    "implement; ignoring it would silently change the pixels. Set it to false."
                )
        return extras

    def settings(self) -> dict[str, Any]:
        settings = {key: getattr(self, key) for key in self.known_keys()}
        if settings["do_convert_rgb"] is None:  # the reference leaves unset options out of the file
            del settings["do_convert_rgb"]
        return settings

    def __call__(self, images: Any, **kwargs: Any) -> BatchFeature:
        return self.preprocess(images, **kwargs)

    def preprocess(
        self,
        images: Any,
        *,
        return_tensors: str | None = None,
        input_data_format: str | None = None,
        **overrides: Any,
    ) -> BatchFeature:
        """Process one image or a batch; keyword arguments override this processor's settings for this call.

        Images are PIL images, numpy arrays or torch tensors: (H, W) greyscale, (H, W, C) or (C, H, W) with C
        in 1, 3, 4, uint8 in 0..255 or float. A list, or a 4-d array/tensor, is a batch. `return_tensors` None
        gives a
        list of (3, H, W) float32 arrays, "np" / "pt" one (B, 3, H, W) array / tensor.
        """
        check_return_tensors(return_tensors)
        if input_data_format not in DATA_FORMATS:
            raise InputError(
                f"input_data_format={input_data_format!r}; use 'channels_first', 'channels_last' or "
                "None (inferred)."
            )
        overrides = {
            key: value for key, value in overrides.items() if value is not None
        }  # None: keep the setting
        unknown = sorted(set(overrides) - set(self.known_keys()))
        if unknown:
            raise InputError(
                f"Unknown argument(s) {unknown} for {type(self).__name__}; valid: "
                f"{list(self.known_keys())}, return_tensors, input_data_format."
            )
        options = self if not overrides else type(self)(**{**self.settings(), **overrides})
        pixel_values = []
        for index, image in enumerate(_as_image_list(images)):
            where = f"image {index}"
            array = _to_channels_first(image, input_data_format, options.do_convert_rgb, where)
            if options.do_resize:
                array = _resize(array, options.size["height"], options.size["width"],
                                resample_code(options.resample), where)
            if options.do_rescale:
                if np.issubdtype(array.dtype, np.floating) and array.min() >= 0 and array.max() <= 1:
                    logger.warning(
                        "%s is float with values already in [0, 1] and do_rescale=True multiplies them by "
                        "%s again (as the reference does); pass do_rescale=False for such images.",
                        where,
                        options.rescale_factor,
                    )
                array = _rescale(array, options.rescale_factor)
            if options.do_normalize:
                array = _normalize(array, options.image_mean, options.image_std)
            pixel_values.append(array)
        return BatchFeature({"pixel_values": pixel_values}, tensor_type=return_tensors)


def _as_image_list(images: Any) -> list[Any]:
    """One image or a batch -> a list of single images (PIL images or 2-d / 3-d numpy arrays)."""
    if is_torch_tensor(images):
        images = tensor_to_numpy(images)
    if _is_pil_image(images):
        return [images]
    if isinstance(images, np.ndarray):
        if images.ndim in (2, 3):
            return [images]
        if images.ndim == 4:
            return list(images)
        raise InputError(
            f"An image array must have 2 (H, W), 3 (H, W, C or C, H, W) or 4 (batch) dimensions, "
            f"got shape {images.shape}."
        )
    if isinstance(images, (list, tuple)):
        if not images:
            raise InputError("Got an empty list of images; pass at least one image.")
        batch = []
        for index, image in enumerate(images):
            if is_torch_tensor(image):
                image = tensor_to_numpy(image)
            if not (_is_pil_image(image) or (isinstance(image, np.ndarray) and image.ndim in (2, 3))):
                shape = f" of shape {image.shape}" if isinstance(image, np.ndarray) else ""
                raise InputError(
                    f"images[{index}] is a {type(image).__name__}{shape}; each image of a batch must be "
                    "a PIL image or a 2-d / 3-d numpy array or torch tensor."
                )
            batch.append(image)
        return batch
    raise InputError(
        f"Images must be PIL images, numpy arrays or torch tensors (or a list of them), got "
        f"{type(images).__name__}."
    )


def _to_channels_first(
    image: Any, data_format: str | None, convert_rgb: bool | None, where: str
) -> np.ndarray:
    """A single image as a (C, H, W) array, converted to RGB unless `convert_rgb` is False."""
    if _is_pil_image(image):
        array = _pil_to_rgb(image) if convert_rgb is not False else np.array(image)
        array = array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)
    else:
        array = image
        if array.dtype == np.bool_ or not (
            np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
        ):
            raise InputError(f"{where} has dtype {array.dtype}; use uint8 (0..255) or float pixel values.")
        if array.ndim == 2:
            array = array[None]
        elif _channels_last(array, data_format, where):
            array = np.moveaxis(array, -1, 0)
    if array.size == 0:
        raise InputError(
            f"{where} is empty (shape {tuple(array.shape)} as channels, height, width); every image "
            "needs at least one pixel."
        )
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise InputError(f"{where} has NaN or infinite pixel values.")
    if array.shape[0] not in CHANNEL_COUNTS:
        raise InputError(
            f"{where} has {array.shape[0]} channels (shape {array.shape} as channels first); images "
            "must have 1 (greyscale), 3 (RGB) or 4 (RGBA) channels."
        )
    if convert_rgb is not False and array.shape[0] != 3:
        array = _array_to_rgb(array, where)
    return array


def _channels_last(array: np.ndarray, data_format: str | None, where: str) -> bool:
    if data_format is not None:
        return data_format == "channels_last"
    first, last = array.shape[0] in CHANNEL_COUNTS, array.shape[-1] in CHANNEL_COUNTS
    if first and last:
        logger.warning(
            "%s has shape %s: both its first and last axes could be channels; taking the first "
            "(pass input_data_format='channels_last' if that is wrong).",
            where,
            array.shape,
        )
    if not (first or last):
        raise InputError(
            f"{where} has shape {array.shape}: neither its first nor its last axis has 1, 3 or 4 "
            "channels. Pass (H, W, C) or (C, H, W) with C in 1, 3, 4, or set input_data_format."
        )
    return not first


def _pil_to_rgb(image: Any) -> np.ndarray:
    """Any PIL image as an (H, W, 3) uint8 array; transparency goes onto white, as the reference does."""
    Image = _pil_image_module()
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.array(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.array(image.convert("RGB"))


def _array_to_rgb(array: np.ndarray, where: str) -> np.ndarray:
    """(1 or 4, H, W) -> (3, H, W): greyscale is repeated, RGBA is composited onto white (same dtype)."""
    if array.shape[0] == 1:
        return np.repeat(array, 3, axis=0)
    integer = np.issubdtype(array.dtype, np.integer)
    low, high = array.min(), array.max()
    if (integer and (low < 0 or high > 255)) or (not integer and (low < 0 or high > 1)):
        raise InputError(
            f"{where} is RGBA with values in [{low}, {high}]; the alpha channel needs integers in "
            "0..255 or floats in [0, 1]."
        )
    white = 255 if integer else 1.0
    alpha = array[3:4] / white  # (1, H, W)
    composite = alpha * array[:3] + (1 - alpha) * white  # (3, H, W)
    return np.round(composite).astype(array.dtype) if integer else composite.astype(array.dtype)


def _resize(array: np.ndarray, height: int, width: int, resample: int, where: str) -> np.ndarray:
    """Resize (C, H, W) through an 8-bit Pillow image, as the reference does, so the pixels match exactly.

    Floats in [0, 1] are scaled to 0..255, truncated to uint8, resized and scaled back (the reference's way);
    whole-number floats and other integer types go to uint8 directly.
    """
    Image = _pil_image_module()
    pixels = np.moveaxis(array, 0, -1)  # (H, W, C)
    pixels = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
    scaled = False
    if pixels.dtype != np.uint8:
        if np.allclose(pixels, pixels.astype(np.int64)):
            if pixels.min() < 0 or pixels.max() > 255:
                raise InputError(
                    f"{where} has whole-number values in [{pixels.min()}, {pixels.max()}], outside "
                    "0..255, so it cannot be resized as an 8-bit image; scale it to 0..255 or [0, 1]."
                )
        elif pixels.min() >= 0 and pixels.max() <= 1:
            scaled = True
            pixels = (pixels.astype(np.float64) * 255).astype(np.float32)
        else:
            raise InputError(
                f"{where} has float values in [{pixels.min()}, {pixels.max()}]; resizing needs floats "
                "in [0, 1] or whole numbers in 0..255."
            )
    resized = np.array(Image.fromarray(pixels.astype(np.uint8)).resize((width, height), resample=resample))
    resized = resized[..., None] if resized.ndim == 2 else resized  # (H', W', C)
    resized = np.moveaxis(resized, -1, 0)  # (C, H', W')
    return _rescale(resized, 1 / 255) if scaled else resized


def _rescale(array: np.ndarray, factor: float) -> np.ndarray:
    # Multiply in float64 and round once to float32, as the reference does (so the results are identical).
    return (array.astype(np.float64) * factor).astype(np.float32)


def _normalize(array: np.ndarray, mean: float | list[float], std: float | list[float]) -> np.ndarray:
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    channels = array.shape[0]
    mean_values = np.array(_per_channel("image_mean", mean, channels), dtype=array.dtype)[
        :, None, None
    ]  # (C, 1, 1)
    std_values = np.array(_per_channel("image_std", std, channels), dtype=array.dtype)[:, None, None]
    return (array - mean_values) / std_values
