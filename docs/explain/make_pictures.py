"""Draw the pictures of docs/explain.md from a default model: `python docs/explain/make_pictures.py`.

With the default sentiment model (built on first use) it draws everything: the attention of every layer and head,
one head large, the token attributions of the predicted label, and the self-contained HTML report (`report.html`). `--model embeddings` (the default encoder,
which has no classification head) draws the attention pictures only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from distilkit import AutoModel, AutoTokenizer, explain
from distilkit.models import registry
from distilkit.pipelines import pipeline

HERE = Path(__file__).parent
SENTENCE = "A gorgeous, witty and moving film that stays with you long after the credits roll."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="sentiment", choices=["sentiment", "embeddings"])
    parser.add_argument("--layer", type=int, default=4)
    parser.add_argument("--head", type=int, default=7)
    arguments = parser.parse_args()
    folder = registry.ensure(arguments.model)
    if arguments.model == "sentiment":
        source = pipeline("sentiment-analysis", model=folder)
        explain.plot_attributions(explain.attributions(source, SENTENCE), path=HERE / "attributions.png")
        explain.save_report(explain.explain_json(source, SENTENCE), HERE / "report.html")
    else:
        source = pipeline("feature-extraction", model=AutoModel.from_pretrained(folder),
                          tokenizer=AutoTokenizer.from_pretrained(folder))
    maps = explain.attention(source, SENTENCE)
    name = arguments.model
    explain.plot_attention(maps, path=HERE / f"attention_grid_{name}.png")
    explain.plot_attention(maps, layer=arguments.layer, head=arguments.head, path=HERE / f"attention_head_{name}.png")
    print("\n".join(str(path) for path in sorted([*HERE.glob("*.png"), *HERE.glob("*.html")])))


if __name__ == "__main__":
    main()
