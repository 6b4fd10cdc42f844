"""Pipeline speed of distilkit vs the reference, same weights, same tokenizer, same inputs, one process.

A distilbert-base-shaped sentiment model (random weights) runs through both libraries' text-classification
pipelines on three workloads: 1,024 movie-review sentences of 8 to 64 tokens at batch size 32 (real sentences
from the packaged Rotten Tomatoes corpus, real bert-base-uncased vocabulary), single-sentence latency, and
8 inputs of 512 tokens at batch size 8. Prints medians and the ratio (reference / distilkit: above 1 means
distilkit is faster), and checks that both give the same labels. Reference and distilkit runs alternate, so a
busy machine slows both alike; the fastest run of each is shown too.
Usage: python benchmarks/bench_pipelines.py [--sentences 1024] [--repeats 3] [--batch-size 32] [--threads N]
"""

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
import transformers

from distilkit.models.assets import minilm_dir
from distilkit.models.data import rotten_tomatoes
from distilkit.pipelines import pipeline


def timings(reference, ours, repeats: int) -> tuple[list[float], list[float]]:
    """Wall times of each; the two alternate within every repeat, so load from other processes on the machine
    hits both alike."""
    reference(), ours()  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for function, record in ((reference, times[0]), (ours, times[1])):
            start = time.perf_counter()
            function()
            record.append(time.perf_counter() - start)
    return times


def report(name: str, times: tuple[list[float], list[float]], unit: str = "s", per: int = 1) -> float:
    """Print medians (and, in brackets, the fastest run, which is less disturbed by a busy machine) and the
    ratio of the medians; returns that ratio."""
    scale = (1000 if unit == "ms" else 1) / per
    (reference, ours) = (statistics.median(times[0]), statistics.median(times[1]))
    print(
        f"{name:>28}: reference {reference * scale:8.3f} {unit} ({min(times[0]) * scale:.3f})   distilkit "
        f"{ours * scale:8.3f} {unit} ({min(times[1]) * scale:.3f})   ratio {reference / ours:5.2f}x "
        f"(fastest runs {min(times[0]) / min(times[1]):.2f}x)"
    )
    return reference / ours


def padded_tokens(lengths: list[int], batch_size: int) -> int:
    """Token slots a batch-by-batch run pads to: each batch costs batch size x its longest row."""
    return sum(
        len(lengths[start : start + batch_size]) * max(lengths[start : start + batch_size])
        for start in range(0, len(lengths), batch_size)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-calls", type=int, default=30)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    torch.manual_seed(0)

    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        shutil.copy(minilm_dir() / "vocab.txt", folder / "vocab.txt")  # the bert-base-uncased vocabulary
        # distilbert-base size: dim 768, 6 layers, 12 heads
        config = transformers.DistilBertConfig(id2label={0: "NEGATIVE", 1: "POSITIVE"})
        transformers.DistilBertForSequenceClassification(config).save_pretrained(folder)
        reference = transformers.pipeline(
            "text-classification",
            model=transformers.DistilBertForSequenceClassification.from_pretrained(folder),
            tokenizer=transformers.DistilBertTokenizer.from_pretrained(folder),
            device=-1,
        )
        ours = pipeline("text-classification", model=folder, device=-1)

    tokenizer = ours.tokenizer
    pool = [sentence for sentence, _ in rotten_tomatoes()]
    random.Random(0).shuffle(pool)
    sentences = [text for text in pool if 8 <= len(tokenizer(text)["input_ids"]) <= 64][: arguments.sentences]
    lengths = [len(ids) for ids in tokenizer(sentences)["input_ids"]]
    print(
        f"threads={torch.get_num_threads()}  {len(sentences)} sentences, "
        f"{min(lengths)}-{max(lengths)} tokens "
        f"(mean {statistics.mean(lengths):.1f}), batch size {arguments.batch_size}"
    )
    in_order = padded_tokens(lengths, arguments.batch_size)
    by_length = padded_tokens(sorted(lengths, reverse=True), arguments.batch_size)
    print(
        f"{'token slots':>28}: reference {in_order} (batches in input order)   distilkit {by_length} "
        f"(length-sorted)   real tokens {sum(lengths)}"
    )

    batch = arguments.batch_size
    expected = reference(sentences, batch_size=batch)
    actual = ours(sentences, batch_size=batch)
    agree = sum(mine["label"] == theirs["label"] for mine, theirs in zip(actual, expected, strict=True))
    worst = max(abs(mine["score"] - theirs["score"]) for mine, theirs in zip(actual, expected, strict=True))
    print(f"{'agreement':>28}: {agree}/{len(sentences)} labels, max score difference {worst:.1e}")

    times = timings(
        lambda: reference(sentences, batch_size=batch),
        lambda: ours(sentences, batch_size=batch),
        arguments.repeats,
    )
    report(f"{len(sentences)} sentences, batch {batch}", times)
    print(
        f"{'throughput':>28}: reference {len(sentences) / statistics.median(times[0]):8.1f} /s   distilkit "
        f"{len(sentences) / statistics.median(times[1]):8.1f} /s"
    )

    sentence = sentences[0]
    calls = arguments.latency_calls
    times = timings(
        lambda: [reference(sentence) for _ in range(calls)],
        lambda: [ours(sentence) for _ in range(calls)],
        arguments.repeats,
    )
    report("one sentence (latency)", times, "ms", per=calls)

    long_texts = [" ".join(pool[index : index + 40]) for index in range(0, 320, 40)]  # each > 512 tokens
    assert all(len(tokenizer(text)["input_ids"]) > 512 for text in long_texts)
    options = {"truncation": True, "max_length": 512, "batch_size": 8}
    times = timings(
        lambda: reference(long_texts, **options), lambda: ours(long_texts, **options), arguments.repeats
    )
    report("8 x 512 tokens, batch 8", times)


if __name__ == "__main__":
    main()
