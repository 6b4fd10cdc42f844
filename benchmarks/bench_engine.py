"""The inference engine against the systems users pick instead, all in one run, one worker process per system.

Systems (distilbert-base shape, random weights, the real bert-base-uncased vocabulary, text classification end to
end with tokenization and postprocessing): the reference pipeline; distilkit float32 padded (packed=False) and
packed (the default); distilkit int8; ONNX Runtime float32 and int8 on distilkit's own export, run behind
distilkit's pipeline (so with its length-sorted batches); CTranslate2 int8 when it is installed (it removes padding
itself; its encoder output goes through the same classifier head in numpy).

Workloads: W1 one 12-token sentence (median of --latency-calls calls); W2 --sentences Rotten Tomatoes sentences at
batch 32 in the caller's order and pre-sorted by length; W3 8 inputs of 512 tokens at batch 8. The workers take
turns (round robin, --repeats rounds), so a busy machine slows every system alike; medians are printed. Peak RSS of
each worker is sampled during W2. Labels of every system are checked against distilkit float32.

Usage: python benchmarks/bench_engine.py [--sentences 1024] [--repeats 3] [--threads 2] [--quick] [--skip ref,ct2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

SYSTEMS = ("reference", "fp32-padded", "fp32-packed", "int8", "ort-fp32", "ort-int8", "ct2-int8")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class PeakRss:
    """Samples this process's resident memory every 5 ms while a workload runs."""

    def __enter__(self):
        self.peak, self.running = rss_mb(), True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def sample(self):
        while self.running:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()


def build_system(name: str, folder: Path, exports: dict[str, Path], threads: int):
    """A callable texts -> [label, ...] for one system (built inside its worker process)."""
    import torch

    torch.set_num_threads(threads)
    if name == "reference":
        import transformers

        runner = transformers.pipeline(
            "text-classification",
            model=transformers.DistilBertForSequenceClassification.from_pretrained(folder),
            tokenizer=transformers.DistilBertTokenizerFast.from_pretrained(folder), device=-1)
        return lambda texts, batch: [row["label"] for row in runner(texts, batch_size=batch, truncation=True)]
    if name == "ct2-int8":
        return build_ctranslate2(folder, exports["ct2"], threads)
    from distilkit.pipelines import pipeline

    options = {
        "fp32-padded": dict(packed=False),
        "fp32-packed": {},
        "int8": dict(dtype="int8"),
        "ort-fp32": dict(backend="onnxruntime", threads=threads),
        "ort-int8": dict(backend="onnxruntime", dtype="int8", threads=threads),
    }[name]
    source = exports.get(name, folder)
    runner = pipeline("text-classification", model=source, tokenizer=folder, **options)
    return lambda texts, batch: [row["label"] for row in runner(texts, batch_size=batch, truncation=True)]


def build_ctranslate2(folder: Path, converted: Path, threads: int):
    """CTranslate2's encoder (int8) + the classifier head in numpy, fed by the same fast tokenizer."""
    import ctranslate2
    import numpy as np
    from safetensors.numpy import load_file

    from distilkit.tokenization import DistilBertTokenizerFast

    tokenizer = DistilBertTokenizerFast.from_pretrained(folder)
    encoder = ctranslate2.Encoder(str(converted), device="cpu", compute_type="int8", intra_threads=threads)
    weights = load_file(str(folder / "model.safetensors"))
    pre_w, pre_b = weights["pre_classifier.weight"], weights["pre_classifier.bias"]
    out_w, out_b = weights["classifier.weight"], weights["classifier.bias"]
    labels = ["NEGATIVE", "POSITIVE"]

    def run(texts, batch):
        results = []
        for start in range(0, len(texts), batch):
            tokens = [tokenizer.convert_ids_to_tokens(ids) for ids in
                      tokenizer(texts[start:start + batch], truncation=True, max_length=512)["input_ids"]]
            hidden = np.asarray(encoder.forward_batch(tokens).last_hidden_state)  # (B, T, D)
            pooled = np.maximum(hidden[:, 0] @ pre_w.T + pre_b, 0)
            logits = pooled @ out_w.T + out_b
            results.extend(labels[int(index)] for index in logits.argmax(-1))
        return results

    return run


def worker(name, folder, exports, threads, connection):
    try:
        system = build_system(name, Path(folder), exports, threads)
        connection.send(("ready", rss_mb()))
    except Exception as error:  # a system that cannot be built here is reported, not fatal
        connection.send(("failed", f"{type(error).__name__}: {error}"))
        return
    while True:
        command = connection.recv()
        if command is None:
            return
        kind, texts, batch, calls = command
        with PeakRss() as memory:
            start = time.perf_counter()
            for _ in range(calls):
                labels = system(texts, batch)
            elapsed = (time.perf_counter() - start) / calls
        connection.send((elapsed, memory.peak, labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-calls", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--quick", action="store_true", help="a small model and few sentences: a smoke run")
    parser.add_argument("--skip", default="", help="comma-separated systems to leave out")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.sentences, arguments.repeats, arguments.latency_calls = 64, 1, 10

    import torch
    import transformers

    from distilkit.engine.onnx import export_onnx
    from distilkit.models.assets import minilm_dir
    from distilkit.models.data import rotten_tomatoes
    from distilkit.pipelines import pipeline
    from distilkit.tokenization import DistilBertTokenizerFast

    skipped = {name.strip() for name in arguments.skip.split(",") if name.strip()}
    scratch = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    try:
        folder = scratch / "model"
        folder.mkdir()
        shutil.copy(minilm_dir() / "vocab.txt", folder / "vocab.txt")
        DistilBertTokenizerFast(vocab_file=str(folder / "vocab.txt"), model_max_length=512).save_pretrained(folder)
        torch.manual_seed(0)
        size = dict(dim=256, n_layers=2, hidden_dim=1024, n_heads=4) if arguments.quick else {}
        config = transformers.DistilBertConfig(id2label={0: "NEGATIVE", 1: "POSITIVE"}, **size)
        transformers.DistilBertForSequenceClassification(config).save_pretrained(folder)

        exports: dict[str, Path] = {}
        model = pipeline("text-classification", model=folder).model
        for name, int8 in (("ort-fp32", False), ("ort-int8", True)):
            if name not in skipped:
                exports[name] = export_onnx(model, scratch / name, int8=int8)
        if "ct2-int8" not in skipped:
            try:
                import ctranslate2.converters

                ctranslate2.converters.TransformersConverter(str(folder)).convert(str(scratch / "ct2"))
                exports["ct2"] = scratch / "ct2"
            except Exception as error:  # not installed, or this version cannot convert DistilBERT
                print(f"ct2-int8 skipped: {type(error).__name__}: {error}")
                skipped.add("ct2-int8")
        del model

        tokenizer = DistilBertTokenizerFast.from_pretrained(folder)
        pool = [sentence for sentence, _ in rotten_tomatoes()]
        random.Random(0).shuffle(pool)
        lengths = {text: len(ids) for text, ids in zip(pool, tokenizer(pool)["input_ids"], strict=True)}
        sentences = [text for text in pool if 8 <= lengths[text] <= 64][: arguments.sentences]
        by_length = sorted(sentences, key=lambda text: lengths[text])
        single = next(text for text in pool if lengths[text] == 12)
        long_texts = [" ".join(pool[index : index + 40]) for index in range(0, 320, 40)]
        real = sum(lengths[text] for text in sentences)
        print(f"threads={arguments.threads}  W2: {len(sentences)} sentences, {real} real tokens "
              f"(mean {real / len(sentences):.1f}), batch 32; W1: one {lengths[single]}-token sentence; "
              f"W3: 8 x 512 tokens, batch 8")

        context = multiprocessing.get_context("spawn")
        workers = {}
        for name in SYSTEMS:
            if name in skipped:
                continue
            here, there = context.Pipe()
            process = context.Process(target=worker, args=(name, str(folder), exports, arguments.threads, there))
            process.start()
            status, detail = here.recv()
            if status != "ready":
                print(f"{name} skipped: {detail}")
                process.join()
                continue
            workers[name] = (process, here)

        workloads = {
            "W2 caller's order": (sentences, 32, 1),
            "W2 pre-sorted": (by_length, 32, 1),
            "W1 one sentence": ([single], 1, arguments.latency_calls),
            "W3 8 x 512": (long_texts, 8, 1),
        }
        times = {(name, load): [] for name in workers for load in workloads}
        peaks = {name: 0.0 for name in workers}
        labels = {}
        for _ in range(arguments.repeats):
            for load, (texts, batch, calls) in workloads.items():
                for name, (_, connection) in workers.items():
                    connection.send((load, texts, batch, calls))
                    elapsed, peak, result = connection.recv()
                    times[(name, load)].append(elapsed)
                    if load.startswith("W2"):
                        peaks[name] = max(peaks[name], peak)
                    if load == "W2 caller's order":
                        labels[name] = result
        for _, connection in workers.values():
            connection.send(None)
        for process, _ in workers.values():
            process.join()

        def median(name, load):
            return statistics.median(times[(name, load)])

        print(f"\n{'system':>12} | {'W2 order sent/s':>15} | {'W2 sorted sent/s':>16} | {'order/sorted':>12} | "
              f"{'W1 ms':>7} | {'W3 s':>6} | {'peak RSS MB':>11} | labels = fp32")
        base = labels.get("fp32-packed")
        for name in workers:
            order, ordered = median(name, "W2 caller's order"), median(name, "W2 pre-sorted")
            agree = (f"{sum(a == b for a, b in zip(labels[name], base, strict=True))}/{len(base)}"
                     if base else "-")
            print(f"{name:>12} | {len(sentences) / order:15.1f} | {len(sentences) / ordered:16.1f} | "
                  f"{order / ordered:12.2f} | {median(name, 'W1 one sentence') * 1000:7.1f} | "
                  f"{median(name, 'W3 8 x 512'):6.2f} | {peaks[name]:11.0f} | {agree}")

        def ratio(mine, theirs, load, invert=False):
            if mine not in workers or theirs not in workers:
                return "n/a"
            value = median(theirs, load) / median(mine, load)
            return f"{1 / value if invert else value:.2f}x"

        print("\nratios (above 1: the first system is faster)")
        order, ordered = "W2 caller's order", "W2 pre-sorted"
        print(f"  fp32 packed vs reference, W2 caller's order: {ratio('fp32-packed', 'reference', order)} "
              "(target >= 2.7x)")
        print(f"  int8 vs reference, W2 caller's order:        {ratio('int8', 'reference', order)} (target >= 4x)")
        if "ort-fp32" in workers and "fp32-packed" in workers:
            print(f"  fp32 packed (order) vs ORT fp32 (sorted):    "
                  f"{median('ort-fp32', ordered) / median('fp32-packed', order):.2f}x (target >= 1)")
        if "ort-int8" in workers and "int8" in workers:
            print(f"  int8 (order) vs ORT int8 (sorted):           "
                  f"{median('ort-int8', ordered) / median('int8', order):.2f}x (target >= 1)")
        print(f"  fp32 packed vs padded, W2 caller's order:    {ratio('fp32-packed', 'fp32-padded', order)}")
        print(f"  W1 fp32 latency / ORT fp32 latency:          "
              f"{ratio('fp32-packed', 'ort-fp32', 'W1 one sentence', invert=True)} (target <= 1.1x)")
        print(f"  W3 fp32 packed vs reference:                 {ratio('fp32-packed', 'reference', 'W3 8 x 512')} "
              "(target >= 1)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
