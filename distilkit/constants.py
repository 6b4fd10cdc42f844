"""Values several layers share, each defined once: the "no limit" sentinel, the decode clean-up table, the Hub
loading options and the dtype names.

Plain data with no imports, at the bottom of the import order, so tokenizers, processors, models, Auto classes and
pipelines all read the same table.
"""

from __future__ import annotations

# The reference's `model_max_length` when nothing sets it: "no limit". Any length above NO_LIMIT_THRESHOLD is read
# as that sentinel (configs round-trip it through floats, so it is compared by size, not by equality).
VERY_LARGE_INTEGER = int(1e30)
NO_LIMIT_THRESHOLD = int(1e20)


def is_unlimited(length: int) -> bool:
    """True for the "no limit" sentinel (and anything as large): `is_unlimited(VERY_LARGE_INTEGER)` -> True."""
    return length > NO_LIMIT_THRESHOLD


# Spaces before punctuation and English contractions that `clean_up_tokenization_spaces=True` removes, in order:
# "hello , world ! it ' s" -> "hello, world! it's".
CLEAN_UP_REPLACEMENTS = (
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
    (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
)  # fmt: skip
# The Rust WordPiece decoder's per-token clean-up: the same table plus " do not" -> " don't" (after " 'm").
WORDPIECE_DECODER_REPLACEMENTS = CLEAN_UP_REPLACEMENTS[:7] + ((" do not", " don't"),) + CLEAN_UP_REPLACEMENTS[7:]

# Keyword arguments of every `from_pretrained` that choose where files come from, not what is built.
HUB_KWARGS = ("cache_dir", "revision", "local_files_only", "token")

# Floating-point dtypes a config's `dtype` may name and a model may be loaded in.
DTYPE_NAMES = ("float32", "float16", "bfloat16", "float64")
