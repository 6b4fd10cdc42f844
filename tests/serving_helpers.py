"""Helpers for the server tests: tiny saved models, a real server in a subprocess on an ephemeral loopback port,
and a raw HTTP/1.1 client for requests whose body arrives late."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import torch

from distilkit import (
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForMultipleChoice,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from distilkit.tokenization import DistilBertTokenizerFast

WORDS = (
    "the a is was in on of and to cat dog sat mat john marie lives paris berlin france who city where does "
    "film movie good bad great awful witty gorgeous dull long i loved it hated story plot un ##aff ##able ##s "
    ". , ? !"
).split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
HEADS = {
    "classifier": (DistilBertForSequenceClassification, {"id2label": {0: "NEGATIVE", 1: "POSITIVE"}}),
    "ner": (DistilBertForTokenClassification,
            {"id2label": {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}}),
    "qa": (DistilBertForQuestionAnswering, {}),
    "mlm": (DistilBertForMaskedLM, {}),
    "encoder": (DistilBertModel, {}),
    "choice": (DistilBertForMultipleChoice, {}),
}
RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def save_models(root: Path, names: tuple[str, ...] = tuple(HEADS), **sizes: Any) -> dict[str, Path]:
    """Random tiny models with a small real WordPiece vocabulary, saved with their tokenizer."""
    tokenizer = DistilBertTokenizerFast(vocab={token: index for index, token in enumerate(VOCAB)})
    shape = dict(vocab_size=len(VOCAB), dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64)
    shape.update(sizes)
    folders = {}
    for name in names:
        cls, extra = HEADS[name]
        torch.manual_seed(0)
        folder = root / name
        cls(DistilBertConfig(**shape, **extra)).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders[name] = folder
    return folders


class ServerProcess:
    """A server in a subprocess on 127.0.0.1 and a port the OS picks; its output is kept in `lines`."""

    def __init__(self, arguments: list[str], *, command: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        command = command or [sys.executable, "-m", "distilkit.serving", "--host", "127.0.0.1", "--port", "0"]
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process = subprocess.Popen([*command, *arguments], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=environment)
        self.lines: list[str] = []
        self.port: int | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            found = RUNNING.search(line)
            if found and self.port is None:
                self.port = int(found.group(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return "\n".join(self.lines[-60:])

    def wait_ready(self, timeout: float = 180.0) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log()}")
            if self.port is not None:
                try:
                    if httpx.get(f"{self.url}/ready", timeout=5).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready after {timeout:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(timeout=5)


def metric(server_url: str, name: str) -> float:
    """The sum of every sample of one Prometheus metric (all label values)."""
    text = httpx.get(f"{server_url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and (line[len(name)] in " {"))


class SlowRequest:
    """A POST over a raw socket that sends its headers and only the start of its body, so the server has
    accepted it but cannot answer yet; `finish()` sends the rest and returns (status, headers, JSON body)."""

    def __init__(self, port: int, path: str, body: Any) -> None:
        self.body = json.dumps(body).encode()
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=60)
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(self.body)}\r\n\r\n").encode()
        self.socket.sendall(head + self.body[:3])

    def finish(self) -> tuple[int, dict[str, str], Any]:
        self.socket.sendall(self.body[3:])
        data = b""
        while b"\r\n\r\n" not in data:
            data += self.receive()
        head, rest = data.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {key.lower(): value.strip() for key, value in (line.split(":", 1) for line in header_lines)}
        length = int(headers["content-length"])
        while len(rest) < length:
            rest += self.receive()
        self.socket.close()
        return int(status_line.split()[1]), headers, json.loads(rest[:length])

    def receive(self) -> bytes:
        chunk = self.socket.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection before answering")
        return chunk
