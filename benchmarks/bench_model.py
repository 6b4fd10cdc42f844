"""Forward-pass speed of distilkit's DistilBERT vs the reference, same weights, same inputs, one process.

Prints the median latency of each and the ratio (reference / distilkit: above 1 means distilkit is faster).
Usage: python benchmarks/bench_model.py [--batch 32] [--length 128] [--repeats 10]
"""

import argparse
import statistics
import tempfile
import time

import torch
import transformers

from distilkit import DistilBertForSequenceClassification


def median_seconds(function, repeats: int) -> float:
    function()  # warm-up
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10)
    arguments = parser.parse_args()
    torch.manual_seed(0)

    config = transformers.DistilBertConfig()  # distilbert-base size: dim 768, 6 layers
    reference = transformers.DistilBertForSequenceClassification(config).eval()
    with tempfile.TemporaryDirectory() as directory:
        reference.save_pretrained(directory)
        ours = DistilBertForSequenceClassification.from_pretrained(directory)

    ids = torch.randint(1000, 30000, (arguments.batch, arguments.length))
    mask = torch.ones_like(ids)
    for row in range(arguments.batch):  # realistic padding: lengths spread over the batch
        mask[row, arguments.length * (row + 1) // arguments.batch:] = 0
    mask[:, 0] = 1
    print(f"threads={torch.get_num_threads()} batch={arguments.batch} length={arguments.length}")
    for label, padded in (("no padding", torch.ones_like(mask)), ("padded batch", mask)):
        with torch.inference_mode():
            expected = reference(input_ids=ids, attention_mask=padded).logits
            actual = ours(input_ids=ids, attention_mask=padded).logits
            assert (expected - actual).abs().max() < 1e-4
            reference_time = median_seconds(lambda mask=padded: reference(input_ids=ids, attention_mask=mask),
                                            arguments.repeats)
            our_time = median_seconds(lambda mask=padded: ours(input_ids=ids, attention_mask=mask), arguments.repeats)
        print(f"{label:>13}: reference {reference_time * 1000:8.1f} ms   distilkit {our_time * 1000:8.1f} ms   "
              f"ratio {reference_time / our_time:5.2f}x")


if __name__ == "__main__":
    main()
