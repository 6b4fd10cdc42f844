"""Batch tokenization speed of distilkit's fast tokenizer vs the reference, same vocabulary, same sentences.

Encodes 10k Jane Austen sentences (the r-cran-janeaustenr corpus) with the all-MiniLM-L6-v2 vocabulary in several
call shapes, checks that both produce identical ids, and prints the median time of each and the ratio
(reference / distilkit: above 1 means distilkit is faster). The slow tokenizer is timed too, for scale.
Usage: python benchmarks/bench_tokenizer.py [--sentences 10000] [--repeats 7] [--no-slow]
"""

import argparse
import re
import statistics
import time
import warnings

import torch
import transformers

from distilkit.models import assets
from distilkit.tokenization import DistilBertTokenizer, DistilBertTokenizerFast


def median_seconds(functions: list, repeats: int) -> list[float]:
    """Median time of each function; calls are interleaved so that drift in machine load hits all alike."""
    for function in functions:
        function()  # warm-up
    timings: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for function, times in zip(functions, timings, strict=True):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
    return [statistics.median(times) for times in timings]


def austen_sentences(count: int) -> list[str]:
    sentences: list[str] = []
    for text in assets.jane_austen_texts().values():
        sentences += [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s]
    return sentences[:count]


def same(reference_output, our_output) -> bool:
    ours, theirs = our_output["input_ids"], reference_output["input_ids"]
    return bool(torch.equal(ours, theirs)) if isinstance(ours, torch.Tensor) else ours == theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-slow", action="store_true", help="skip timing the pure-Python tokenizer")
    arguments = parser.parse_args()
    warnings.simplefilter("ignore")
    transformers.logging.set_verbosity_error()

    folder = assets.minilm_dir()
    reference = transformers.DistilBertTokenizer.from_pretrained(folder)
    fast = DistilBertTokenizerFast.from_pretrained(folder)
    slow = DistilBertTokenizer.from_pretrained(folder)
    sentences = austen_sentences(arguments.sentences)
    print(f"{len(sentences)} sentences, {sum(map(len, sentences))} characters, torch threads={torch.get_num_threads()}")
    shapes = {
        "lists, no padding": dict(),
        "padded+truncated to 128, pt": dict(padding=True, truncation=True, max_length=128, return_tensors="pt"),
        "padded longest, pt": dict(padding=True, truncation=True, return_tensors="pt"),
        "with offsets": dict(return_offsets_mapping=True),
        "pairs, truncated, pt": dict(padding="max_length", truncation="only_second", max_length=64,
                                     return_tensors="pt"),
    }
    ratios = []
    for label, kwargs in shapes.items():
        args = (sentences,) if "pairs" not in label else ([s[:40] for s in sentences], sentences)
        if not same(reference(*args, **kwargs), fast(*args, **kwargs)):
            raise SystemExit(f"{label}: distilkit and the reference disagree; timing would be meaningless")
        reference_time, our_time = median_seconds(
            [lambda: reference(*args, **kwargs), lambda: fast(*args, **kwargs)], arguments.repeats  # noqa: B023
        )
        ratios.append(reference_time / our_time)
        line = (f"{label:>30}: reference {reference_time * 1000:7.1f} ms   distilkit fast {our_time * 1000:7.1f} ms   "
                f"ratio {reference_time / our_time:5.2f}x")
        if not arguments.no_slow and label == "lists, no padding":
            (slow_time,) = median_seconds([lambda: slow(*args, **kwargs)], 1)  # noqa: B023
            line += f"   (distilkit slow {slow_time * 1000:7.1f} ms)"
        print(line)
    print(f"geometric mean ratio {statistics.geometric_mean(ratios):.2f}x (above 1: distilkit is faster)")


if __name__ == "__main__":
    main()
