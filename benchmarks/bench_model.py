"""Forward-pass speed of distilkit's DistilBERT vs the reference and ONNX Runtime, same weights, same inputs, one process.

Prints the median latency of each and the ratios (reference / distilkit and onnxruntime / distilkit: above 1 means
distilkit is faster). ONNX Runtime runs distilkit's model exported with torch.onnx, on torch's thread count; its column
is skipped, with a note, when onnxruntime / onnxscript / onnx are not installed.
Usage: python benchmarks/bench_model.py [--batch 32] [--length 128] [--repeats 10] [--quick]
"""

import argparse
import os
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


class LogitsOnly(torch.nn.Module):
    """The model as a plain (input_ids, attention_mask) -> logits function, the signature the ONNX graph gets."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def onnxruntime_session(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, directory: str):
    """`model` exported to ONNX (dynamic batch and sequence) and loaded on the CPU with torch's thread count; None,
    after a one-line note, when the optional packages are missing."""
    try:
        import onnx  # noqa: F401  (the exporter writes with it)
        import onnxruntime
        import onnxscript  # noqa: F401  (the default, dynamo-based exporter translates with it)
    except ImportError as error:
        print(f"onnxruntime column skipped: {error.name} is not installed (pip install onnxruntime onnxscript)")
        return None
    path = os.path.join(directory, "distilbert.onnx")
    dynamic = {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}  # batch, sequence
    # traced with a padded mask: under export the model keeps the mask even when nothing is padded
    torch.onnx.export(LogitsOnly(model).eval(), (ids, mask), path, input_names=["input_ids", "attention_mask"],
                      output_names=["logits"], dynamic_shapes={"input_ids": dynamic, "attention_mask": dynamic},
                      verbose=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: a 2-layer dim-64 model, batch 4, length 16, 2 repeats (times mean nothing)")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.batch, arguments.length, arguments.repeats = 4, 16, 2
    torch.manual_seed(0)

    if arguments.quick:
        config = transformers.DistilBertConfig(dim=64, hidden_dim=128, n_layers=2, n_heads=4)
    else:
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
    with tempfile.TemporaryDirectory() as directory:
        session = onnxruntime_session(ours, ids, mask, directory)
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
        if session is None:
            continue
        feeds = {"input_ids": ids.numpy(), "attention_mask": padded.numpy()}
        difference = (torch.from_numpy(session.run(None, feeds)[0]) - actual).abs().max().item()
        assert difference < 1e-4, f"onnxruntime logits differ from distilkit's by {difference:.2e}"
        runtime_time = median_seconds(lambda feeds=feeds: session.run(None, feeds), arguments.repeats)
        print(f"{'':>13}  onnxruntime {runtime_time * 1000:8.1f} ms   "
              f"onnxruntime time / distilkit time {runtime_time / our_time:5.2f}x   max abs diff {difference:.1e}")


if __name__ == "__main__":
    main()
