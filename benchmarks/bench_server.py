"""Load test of `distilkit serve` on loopback (127.0.0.1 only; every phase bounded in time and requests).

The W2 workload of the engine benchmark: Rotten Tomatoes sentences of 8 to 64 tokens (real bert-base-uncased
vocabulary), a distilbert-base-shaped text classifier with random weights. In one run:
  1. offline: the in-process pipeline on the sentences at batch size 32 (sentences/s), and one in-process call
     of one sentence (median latency);
  2. the server with dynamic batching: idle latency of one request (median) against the in-process call, then
     64 closed-loop clients, each sending one sentence per request (throughput, p50/p99 latency);
  3. the same server without batching (`--max-batch-requests 1`: one forward pass per request), same clients;
  4. overload: open-loop arrivals at twice the batching server's measured throughput, each on a new connection;
     every answer must be 200 or 429 (no other status, no dropped connection, no hang).
Prints the figures and the issue's targets. The client is a minimal asyncio HTTP/1.1 client, so it costs the
server (which shares the machine's cores) as little as possible.
Usage: python benchmarks/bench_server.py [--quick] [--clients 64] [--seconds 30] [--overload-seconds 60]
"""

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from distilkit import DistilBertConfig, DistilBertForSequenceClassification
from distilkit.models.assets import minilm_dir
from distilkit.models.data import rotten_tomatoes
from distilkit.pipelines import pipeline

ROUTE = "/v1/text-classification"
RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


class Server:
    """`python -m distilkit.serving` in a subprocess on an ephemeral loopback port, stopped with SIGTERM."""

    def __init__(self, model: Path, *flags: str) -> None:
        command = [sys.executable, "-m", "distilkit.serving", "--model", str(model), "--host", "127.0.0.1",
                   "--port", "0", "--no-access-log", *flags]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.port = None
        self.lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            for line in self.process.stdout:
                self.lines.append(line)
                found = RUNNING.search(line)
                if found:
                    self.port = int(found.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(300) or self.port is None:
            self.stop()
            raise RuntimeError("the server did not start:\n" + "".join(self.lines[-30:]))
        deadline = time.monotonic() + 300
        while asyncio.run(one_request(self.port, b"", "GET", "/ready"))[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become ready:\n" + "".join(self.lines[-30:]))
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (all its threads): a measure of work that a busy machine
        does not inflate the way it inflates wall time."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def request_bytes(body: bytes, method: str = "POST", path: str = ROUTE, close: bool = False) -> bytes:
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n")
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def one_request(port: int, body: bytes, method: str = "POST", path: str = ROUTE) -> tuple[int, bytes]:
    """One request on a new connection; (0, b"") if the connection fails or drops."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes(body, method, path, close=True))
        await writer.drain()
        answer = await read_response(reader)
        writer.close()
        return answer
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        return 0, b""


def body_of(sentence: str) -> bytes:
    return json.dumps({"inputs": sentence}).encode()


async def closed_loop(port: int, sentences: list[str], clients: int, seconds: float, cap: int) -> dict:
    """`clients` keep-alive connections, each sending its next sentence as soon as the last answer arrives."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(cap))
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                index = next(counter, None)
                if index is None:
                    return
                started = time.perf_counter()
                writer.write(request_bytes(body_of(sentences[index % len(sentences)])))
                await writer.drain()
                status, _ = await read_response(reader)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"requests": len(latencies), "per_second": len(latencies) / elapsed, "statuses": statuses,
            "p50": ordered[len(ordered) // 2], "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]}


async def overload(port: int, sentences: list[str], rate: float, seconds: float, patience: float) -> dict:
    """Open-loop arrivals at `rate` per second for `seconds`, each on its own connection."""
    tasks = []
    started = time.perf_counter()
    for index in range(int(rate * seconds)):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one_request(port, body_of(sentences[index % len(sentences)]))))
    done, pending = await asyncio.wait(tasks, timeout=patience)
    for task in pending:
        task.cancel()
    statuses: dict[int, int] = {}
    for task in done:
        status = task.result()[0]
        statuses[status] = statuses.get(status, 0) + 1
    return {"sent": len(tasks), "statuses": statuses, "hung": len(pending),
            "elapsed": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: MiniLM-sized model, 256 sentences, 8 s phases, 10 s overload")
    parser.add_argument("--sentences", type=int, default=1024)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each closed-loop phase")
    parser.add_argument("--max-requests", type=int, default=20000, help="cap on requests per closed-loop phase")
    parser.add_argument("--overload-seconds", type=float, default=60.0)
    parser.add_argument("--latency-calls", type=int, default=50)
    parser.add_argument("--dim", type=int, default=768, help="model width (768: distilbert-base)")
    parser.add_argument("--threads", type=int, help="torch threads of the offline pipeline and of each server "
                                                     "(default: torch's choice)")
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
        os.environ["OMP_NUM_THREADS"] = str(arguments.threads)  # the servers' torch reads it
    if arguments.quick:
        arguments.sentences, arguments.seconds, arguments.overload_seconds = 256, 8.0, 10.0
        arguments.dim, arguments.latency_calls = 384, 20

    torch.manual_seed(0)
    folder = Path(tempfile.mkdtemp(prefix="bench-server-"))
    servers: list[Server] = []
    try:
        shutil.copy(minilm_dir() / "vocab.txt", folder / "vocab.txt")  # the bert-base-uncased vocabulary
        config = DistilBertConfig(dim=arguments.dim, hidden_dim=4 * arguments.dim, n_layers=6, n_heads=12,
                                  id2label={0: "NEGATIVE", 1: "POSITIVE"})
        DistilBertForSequenceClassification(config).save_pretrained(folder)
        offline = pipeline("text-classification", model=str(folder), batch_size=32)
        pool = [sentence for sentence, _ in rotten_tomatoes()]
        random.Random(0).shuffle(pool)
        sentences = [text for text in pool if 8 <= len(offline.tokenizer(text)["input_ids"]) <= 64]
        sentences = sentences[: arguments.sentences]
        lengths = [len(ids) for ids in offline.tokenizer(sentences)["input_ids"]]
        print(f"cpus={os.cpu_count()} torch threads={torch.get_num_threads()}  model dim {arguments.dim}, 6 layers; "
              f"{len(sentences)} sentences of {min(lengths)}-{max(lengths)} tokens (mean "
              f"{statistics.mean(lengths):.1f}); {arguments.clients} clients; measured while other work may share "
              "the machine")

        offline(sentences[:64])  # warm-up
        start, cpu = time.perf_counter(), time.process_time()
        offline(sentences)
        offline_rate = len(sentences) / (time.perf_counter() - start)
        offline_cpu_ms = (time.process_time() - cpu) / len(sentences) * 1000
        print(f"{'offline pipeline':>28}: {offline_rate:8.1f} sentences/s (batch 32)  CPU {offline_cpu_ms:.2f} "
              "ms/sentence")

        batching = Server(folder)
        servers.append(batching)
        body = body_of(sentences[0])

        async def paired_latency() -> dict:
            """In-process call and server request, alternating, so a busy machine slows both alike; with the CPU
            time of each (the server's own, read from /proc), which a busy machine does not inflate."""
            reader, writer = await asyncio.open_connection("127.0.0.1", batching.port)
            local, remote, local_cpu, remote_cpu = [], [], 0.0, 0.0
            for call in range(arguments.latency_calls + 1):
                start, cpu = time.perf_counter(), time.process_time()
                offline(sentences[0])
                local.append(time.perf_counter() - start)
                local_cpu += (time.process_time() - cpu) if call else 0.0
                start, cpu = time.perf_counter(), batching.cpu_seconds()
                writer.write(request_bytes(body))
                await writer.drain()
                await read_response(reader)
                remote.append(time.perf_counter() - start)
                remote_cpu += (batching.cpu_seconds() - cpu) if call else 0.0
            writer.close()
            calls = arguments.latency_calls
            return {"local": statistics.median(local[1:]) * 1000, "remote": statistics.median(remote[1:]) * 1000,
                    "difference": statistics.median(b - a for a, b in zip(local[1:], remote[1:], strict=True)) * 1000,
                    "local_cpu": local_cpu / calls * 1000, "remote_cpu": remote_cpu / calls * 1000}

        idle = asyncio.run(paired_latency())
        overhead_ms = idle["difference"]
        print(f"{'idle single request':>28}: server {idle['remote']:.2f} ms (kept-alive connection), in-process "
              f"{idle['local']:.2f} ms, median paired difference {overhead_ms:+.2f} ms (target <= 5 ms); CPU "
              f"{idle['remote_cpu']:.2f} ms vs {idle['local_cpu']:.2f} ms in-process "
              f"({idle['remote_cpu'] - idle['local_cpu']:+.2f} ms)")

        def closed(server: Server, name: str) -> dict:
            cpu = server.cpu_seconds()
            result = asyncio.run(closed_loop(server.port, sentences, arguments.clients, arguments.seconds,
                                             arguments.max_requests))
            result["cpu_ms"] = (server.cpu_seconds() - cpu) / result["requests"] * 1000
            print(f"{name:>28}: {result['per_second']:8.1f} requests/s  p50 {result['p50'] * 1000:7.1f} ms  "
                  f"p99 {result['p99'] * 1000:7.1f} ms  server CPU {result['cpu_ms']:.2f} ms/request  "
                  f"({result['requests']} requests, statuses {result['statuses']})")
            return result

        batched = closed(batching, "server, dynamic batching")
        unbatched_server = Server(folder, "--max-batch-requests", "1")
        servers.append(unbatched_server)
        unbatched = closed(unbatched_server, "server, no batching")
        unbatched_server.stop()

        rate = 2 * batched["per_second"]
        # every accepted request must be answered: allow the time to drain a full queue at the measured rate
        patience = arguments.overload_seconds + 2 * 512 / batched["per_second"] + 60
        result = asyncio.run(overload(batching.port, sentences, rate, arguments.overload_seconds, patience))
        answered = result["statuses"].get(200, 0) + result["statuses"].get(429, 0)
        share = answered / max(result["sent"], 1)
        print(f"{'2x overload':>28}: {result['sent']} requests at {rate:.1f}/s over {arguments.overload_seconds:.0f} s: "
              f"statuses {result['statuses']} (0 = connection failed), {result['hung']} unanswered; "
              f"{share:.1%} answered 200 or 429 (target 100%)")

        print(f"{'targets':>28}: server / offline {batched['per_second'] / offline_rate:.2f}x (target >= 0.8x); "
              f"batching / no batching {batched['per_second'] / unbatched['per_second']:.2f}x (target >= 3x); "
              f"idle overhead {overhead_ms:+.2f} ms (target <= 5 ms); overload {share:.1%} 200/429")
        print(f"{'the same in CPU time':>28}: server / offline {offline_cpu_ms / batched['cpu_ms']:.2f}x; batching / no "
              f"batching {unbatched['cpu_ms'] / batched['cpu_ms']:.2f}x (work per request, which contention from "
              "other processes does not inflate)")
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
