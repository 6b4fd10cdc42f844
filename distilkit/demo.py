"""`make demo`: sentiment analysis on a few sentences with the embedded default model, offline.

The first run builds the default model from packaged assets (all-MiniLM-L6-v2 from PyPI, converted to DistilBERT,
fine-tuned on Rotten Tomatoes sentences) and caches it; later runs load it in about a second.
"""

from distilkit.pipelines import pipeline

SENTENCES = [
    "A gorgeous, witty and deeply moving film.",
    "The plot is thin and the jokes fall flat.",
    "I expected to hate it, but it won me over in the end.",
    "Two hours of my life I will never get back.",
]


def main() -> None:
    classifier = pipeline("sentiment-analysis", batch_size=8)
    for sentence, result in zip(SENTENCES, classifier(SENTENCES), strict=True):
        print(f"{result['label']:<9} {result['score']:.3f}  {sentence}")


if __name__ == "__main__":
    main()
