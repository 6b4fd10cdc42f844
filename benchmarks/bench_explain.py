"""Integrated-gradients attributions: distilkit.explain against Captum's LayerIntegratedGradients, same model,
baseline, target and steps, in one run.

    python benchmarks/bench_explain.py                     # the default sentiment model (built on first use)
    python benchmarks/bench_explain.py --model embeddings  # the default encoder with a fresh 2-label head: the
                                                           # same architecture and cost, no fine-tuning to wait for

Prints the time to explain a 20-token sentence at 50 steps (median of --repeats, after a warm-up; wall time and
the process's CPU time over all threads, which stays meaningful on a machine busy with other work) and the peak
resident memory of a fresh process explaining it at 50 and at 300 steps: distilkit evaluates the path in chunks
of its internal batch size (50), Captum by default in one batch of all steps. Threads: --threads (default 2).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

# 20 tokens with [CLS] and [SEP] under the bert-base-uncased vocabulary
SENTENCE = "A gorgeous, witty and moving film that stays with you long after the end credits roll."


def load(name: str):
    import torch

    from distilkit import AutoModelForSequenceClassification, AutoTokenizer
    from distilkit.models import registry

    path = registry.ensure(name) if name in ("sentiment", "embeddings") else name
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).eval()
    return model, AutoTokenizer.from_pretrained(path)


def explain_once(tool: str, model, tokenizer, steps: int, batch: int | None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one attribution of SENTENCE's predicted label."""
    import torch

    started, cpu = time.perf_counter(), time.process_time()
    if tool.startswith("distilkit"):
        from distilkit import explain
        from distilkit.explain.attribution import DEFAULT_INTERNAL_BATCH_SIZE, DEFAULT_METHOD

        method = "gausslegendre" if tool == "distilkit-gl" else DEFAULT_METHOD
        explain.attributions(model, tokenizer, SENTENCE, n_steps=steps, method=method,
                             internal_batch_size=batch or DEFAULT_INTERNAL_BATCH_SIZE)
    else:
        from captum.attr import LayerIntegratedGradients

        encoding = tokenizer(SENTENCE, return_tensors="pt", return_special_tokens_mask=True)
        ids, mask = encoding["input_ids"], encoding["attention_mask"]
        baseline = ids.masked_fill(encoding["special_tokens_mask"] == 0, tokenizer.pad_token_id)
        with torch.no_grad():
            target = int(model(input_ids=ids, attention_mask=mask).logits[0].argmax())
        oracle = LayerIntegratedGradients(
            lambda i, m: model(input_ids=i, attention_mask=m).logits[:, target], model.distilbert.embeddings)
        oracle.attribute(ids, baseline, additional_forward_args=(mask,), n_steps=steps,
                         internal_batch_size=batch, return_convergence_delta=True)
    return time.perf_counter() - started, time.process_time() - cpu


def child(arguments: argparse.Namespace) -> None:
    """One measurement in this fresh process: JSON with seconds, the RSS before and the peak RSS (MiB)."""
    import torch

    torch.set_num_threads(arguments.threads)
    model, tokenizer = load(arguments.model)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = [explain_once(arguments.tool, model, tokenizer, arguments.steps, arguments.batch)
             for _ in range(arguments.repeats)]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kept = times[1:] or times
    print(json.dumps({"seconds": statistics.median(wall for wall, _ in kept),
                      "cpu_seconds": statistics.median(cpu for _, cpu in kept), "loaded_mib": before, "peak_mib": peak,
                      "tokens": len(tokenizer(SENTENCE)["input_ids"])}))


def measure(arguments: argparse.Namespace, tool: str, steps: int, repeats: int, batch: int | None) -> dict:
    command = [sys.executable, __file__, "--child", "--tool", tool, "--steps", str(steps), "--repeats", str(repeats),
               "--model", arguments.model, "--threads", str(arguments.threads)]
    if batch is not None:
        command += ["--batch", str(batch)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sentiment", help="sentiment, embeddings, or a model directory")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tool", default="distilkit", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=50, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments)
        return
    print(f"model {arguments.model}, {arguments.threads} threads, sentence: {SENTENCE!r}")
    # distilkit: the default method (adaptive); distilkit-gl: Gauss-Legendre, the rule Captum computes
    speed = {tool: measure(arguments, tool, 50, arguments.repeats, None)
             for tool in ("distilkit", "distilkit-gl", "captum")}
    print(f"tokens: {speed['distilkit']['tokens']}")
    print(f"time at 50 steps (median of {arguments.repeats - 1} after a warm-up):")
    for tool, result in speed.items():
        print(f"  {tool:<12} {result['seconds']:.3f} s wall, {result['cpu_seconds']:.3f} s CPU (all threads)")
    print(f"  captum / distilkit-gl (same rule): {speed['captum']['seconds'] / speed['distilkit-gl']['seconds']:.2f}x;"
          f" target: distilkit (default) <= 3 s: {speed['distilkit']['seconds']:.2f} s")
    print("peak RSS of a fresh process, one attribution (MiB; model loaded -> peak):")
    for steps in (50, 300):
        for tool in ("distilkit", "captum"):
            result = measure(arguments, tool, steps, 1, None)
            print(f"  {steps:>3} steps  {tool:<9} {result['loaded_mib']:7.0f} -> {result['peak_mib']:7.0f} "
                  f"(+{result['peak_mib'] - result['loaded_mib']:.0f})")


if __name__ == "__main__":
    main()
