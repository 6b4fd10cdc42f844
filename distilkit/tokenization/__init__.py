"""DistilBERT tokenizers: `DistilBertTokenizerFast` (Rust `tokenizers`, the default) and `DistilBertTokenizer`
(pure Python), behind one encode API that returns a `BatchEncoding` (spec section 5)."""

from distilkit.tokenization.base import TokenizerBase
from distilkit.tokenization.batch_encoding import BatchEncoding, CharSpan, TokenSpan
from distilkit.tokenization.encode_api import PaddingStrategy, TruncationStrategy
from distilkit.tokenization.fast import DistilBertTokenizerFast
from distilkit.tokenization.files import AddedToken
from distilkit.tokenization.wordpiece import DistilBertTokenizer

__all__ = [
    "AddedToken",
    "BatchEncoding",
    "CharSpan",
    "DistilBertTokenizer",
    "DistilBertTokenizerFast",
    "PaddingStrategy",
    "TokenSpan",
    "TokenizerBase",
    "TruncationStrategy",
    "tokenizer_class",
]


def tokenizer_class(use_fast: bool = True) -> type[TokenizerBase]:
    """The DistilBERT tokenizer class to use: the fast one by default, the pure-Python one with `use_fast=False`."""
    return DistilBertTokenizerFast if use_fast else DistilBertTokenizer
