"""Ray Data batch inference (`distilkit.ray.map_pipeline`, 2 actors x 1 CPU) vs the in-process pipeline on
2 threads, same weights, same inputs, one run.

The W2 workload of bench_pipelines.py: a distilbert-base-shaped sentiment model (random weights, real
bert-base-uncased vocabulary) on 1,024 Rotten Tomatoes sentences of 8 to 64 tokens, batch size 32. Prints wall
times (median of the repeats; the in-process pipeline warm, and cold = model load + run), the ratio Ray /
in-process (target <= 1.3x), the cost of keeping input order (preserve_order on vs off), the peak memory of
each actor process (RSS and PSS, sampled from /proc), and checks that labels agree and scores differ by <= 1e-6.
Ray's time is end to end: actors start and load the model in every run, as they do in a real job.
Usage: python benchmarks/bench_ray.py [--sentences 1024] [--repeats 2] [--batch-size 32]
"""

import argparse
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import ray
import ray.data
import torch

import distilkit.ray
from distilkit import DistilBertConfig, DistilBertForSequenceClassification
from distilkit.models.assets import minilm_dir
from distilkit.models.data import rotten_tomatoes
from distilkit.pipelines import pipeline
from distilkit.tokenization import DistilBertTokenizerFast


def memory_mib(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process in MiB; PSS splits shared pages (torch's libraries) among their users."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                values[key] = int(rest.split()[0]) / 1024
    return values["Rss"], values["Pss"]


class ActorMemory(threading.Thread):
    """Samples every Ray Data actor process (`ray::MapWorker(...)`) every 50 ms; keeps each one's peak."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[int, tuple[float, float]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as handle:
                        if not handle.read().startswith(b"ray::MapWorker("):
                            continue
                    rss, pss = memory_mib(int(entry))
                except OSError:
                    continue
                old = self.peaks.get(int(entry), (0.0, 0.0))
                self.peaks[int(entry)] = (max(old[0], rss), max(old[1], pss))
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    arguments = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)  # the same two CPUs the two actors get

    folder = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        shutil.copy(minilm_dir() / "vocab.txt", folder / "vocab.txt")  # the bert-base-uncased vocabulary
        DistilBertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
        config = DistilBertConfig(id2label={0: "NEGATIVE", 1: "POSITIVE"})  # distilbert-base: dim 768, 6 layers
        DistilBertForSequenceClassification(config).save_pretrained(folder)
        run(folder, arguments)
    finally:
        shutil.rmtree(folder)


def run(folder: Path, arguments: argparse.Namespace) -> None:
    start = time.perf_counter()
    local = pipeline("text-classification", model=folder, device=-1, batch_size=arguments.batch_size)
    load = time.perf_counter() - start
    pool = [sentence for sentence, _ in rotten_tomatoes()]
    random.Random(0).shuffle(pool)
    tokenizer = local.tokenizer
    sentences = [text for text in pool if 8 <= len(tokenizer(text)["input_ids"]) <= 64][: arguments.sentences]
    print(f"{len(sentences)} sentences of 8-64 tokens, batch size {arguments.batch_size}, distilbert-base size; "
          f"in-process: torch threads {torch.get_num_threads()}; Ray: 2 actors x 1 CPU")

    local(sentences[:64])  # warm-up
    warm = []
    for _ in range(arguments.repeats):
        start = time.perf_counter()
        expected = local(sentences)
        warm.append(time.perf_counter() - start)
    in_process, cold = statistics.median(warm), statistics.median(warm) + load

    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)  # 2 actors + the driver's reads
    ray.data.DataContext.get_current().enable_progress_bars = False
    items = [{"id": index, "text": text} for index, text in enumerate(sentences)]
    times: dict[bool, list[float]] = {True: [], False: []}
    sampler = ActorMemory()
    sampler.start()
    try:
        for _ in range(arguments.repeats):
            for ordered in (True, False):
                start = time.perf_counter()
                scored = distilkit.ray.map_pipeline(ray.data.from_items(items), "text-classification", model=folder,
                                                    batch_size=arguments.batch_size, num_actors=2,
                                                    num_cpus_per_actor=1)
                scored.context.execution_options.preserve_order = ordered
                rows = scored.take_all()
                times[ordered].append(time.perf_counter() - start)
                if ordered:
                    assert [row["id"] for row in rows] == list(range(len(sentences))), "rows out of order"
                rows.sort(key=lambda row: row["id"])
                agree = sum(row["label"] == result["label"] for row, result in zip(rows, expected, strict=True))
                worst = max(abs(row["score"] - result["score"]) for row, result in zip(rows, expected, strict=True))
                assert agree == len(sentences) and worst <= 1e-6, (agree, worst)
    finally:
        sampler.stop.set()
        sampler.join()
        ray.shutdown()

    ordered, unordered = statistics.median(times[True]), statistics.median(times[False])
    print(f"{'in-process pipeline':>28}: {in_process:7.2f} s warm ({min(warm):.2f} fastest), {cold:.2f} s cold "
          f"(model load {load:.2f} s)")
    print(f"{'Ray, input order':>28}: {ordered:7.2f} s ({min(times[True]):.2f} fastest)   ratio to in-process "
          f"warm {ordered / in_process:.2f}x, cold {ordered / cold:.2f}x   (target <= 1.3x)")
    print(f"{'Ray, any order':>28}: {unordered:7.2f} s ({min(times[False]):.2f} fastest)   keeping order costs "
          f"{ordered / unordered:.2f}x")
    print(f"{'agreement':>28}: all labels equal, scores within 1e-6, every run")
    for pid, (rss, pss) in sorted(sampler.peaks.items()):
        print(f"{'actor pid ' + str(pid):>28}: peak RSS {rss:7.1f} MiB, PSS {pss:7.1f} MiB")
    if sampler.peaks:
        print(f"{'memory per actor':>28}: median peak RSS "
              f"{statistics.median(rss for rss, _ in sampler.peaks.values()):.0f} MiB, PSS "
              f"{statistics.median(pss for _, pss in sampler.peaks.values()):.0f} MiB")


if __name__ == "__main__":
    main()
