"""A fake OpenAI-compatible `/v1/chat/completions` server for the remote-model tests, on 127.0.0.1 and an
ephemeral port, with one behaviour per fault the backend must survive.

The request's `model` names the behaviour ("good", "offlabel", "ratelimit", ...). The answers come from a small
rule-based "brain" that reads the JSON schema our prompt carries and the input, so it knows nothing of the code
under test; token log-probabilities are made up here with fixed values the tests check scores against.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

P_LABEL = 0.8  # probability of the label written; the other labels share 1 - P_LABEL
P_TYPE = 0.9  # of an entity's type
P_ANSWER = 0.7  # of a QA answer
P_BOOLEAN = 0.9  # of a multi-label true/false
SCHEMA_MARK = "follows this JSON schema:\n"
KEYWORDS = {"POSITIVE": ("love", "great"), "NEGATIVE": ("dull", "hate", "boring")}
ENTITIES = {"John": "PER", "Marie": "PER", "Paris": "LOC", "Berlin": "LOC"}
VALUE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(true|false))')


def brain(schema: dict, user: str) -> dict:
    """The right answer to one of our prompts, by rules."""
    properties = schema["properties"]
    if "label" in properties:
        labels = properties["label"]["enum"]
        text = user.lower()
        for label in labels:
            if any(word in text for word in KEYWORDS.get(label, (label.lower(),))):
                return {"label": label}
        return {"label": labels[-1]}
    if "labels" in properties:
        text = user.lower()
        return {"labels": {label: label.lower() in text for label in properties["labels"]["properties"]}}
    if "entities" in properties:
        types = properties["entities"]["items"]["properties"]["type"]["enum"]
        text = user.removeprefix("Text: ")
        found = [
            {"text": word, "type": ENTITIES[word]}
            for word in re.findall(r"\w+", text)
            if ENTITIES.get(word) in types
        ]
        return {"entities": found}
    context, question = re.match(r"Context: (.*)\nQuestion: (.*)", user, re.DOTALL).groups()
    where = re.match(r"Where does (\w+) live\?", question)
    who = re.match(r"Who lives in (\w+)\?", question)
    if where and (found := re.search(rf"{where[1]} lives in (\w+)", context)):
        return {"answer": found[1]}
    if who and (found := re.search(rf"(\w+) lives in {who[1]}", context)):
        return {"answer": found[1]}
    return {"answer": ""}


def wrong(schema: dict, user: str) -> dict:
    """A well-formed answer that breaks the task: a label outside the set, an entity not in the text, an answer
    that is not in the context."""
    properties = schema["properties"]
    if "label" in properties:
        return {"label": "MAYBE"}
    if "labels" in properties:
        return {"labels": {"not-a-label": True}}
    if "entities" in properties:
        return {"entities": [{"text": "Atlantis", "type": properties["entities"]["items"]["properties"]["type"]["enum"][0]}]}
    return {"answer": "somewhere over the rainbow"}


def tokens_of(content: str, schema: dict) -> list[dict]:
    """Made-up log-probabilities: each JSON value is one token with a fixed probability (alternatives for
    labels), everything between values one token of probability 1."""
    properties = schema["properties"]
    labels = properties["label"]["enum"] if "label" in properties else []
    pieces, position = [], 0
    for match in VALUE.finditer(content):
        group = 2 if match.group(2) is not None else 3
        start, end = match.span(group)
        if start > position:
            pieces.append({"token": content[position:start], "logprob": 0.0, "top_logprobs": []})
        value, key = match.group(group), match.group(1)
        if key == "label":
            others = [label for label in labels if label != value]
            probability = P_LABEL if value in labels else 0.5
            top = [{"token": value, "logprob": math.log(probability)}] + [
                {"token": label, "logprob": math.log((1 - P_LABEL) / len(others))} for label in others
            ]
        else:
            probability = {"type": P_TYPE, "answer": P_ANSWER}.get(key, P_BOOLEAN if group == 3 else 1.0)
            top = []
        if start == end:  # an empty string: the quotes around it carry the probability
            pieces[-1]["logprob"] = math.log(probability)
        else:
            pieces.append({"token": value, "logprob": math.log(probability), "top_logprobs": top})
        position = end
    if position < len(content):
        pieces.append({"token": content[position:], "logprob": 0.0, "top_logprobs": []})
    for piece in pieces:
        piece.setdefault("bytes", None)
    return pieces


class FakeOpenAI:
    """The server: `start()` gives the base URL, `stop()` shuts it down; `requests` records every request body
    with its behaviour and input, `headers` their headers."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight: Counter = Counter()  # requests being answered now, per behaviour
        self.most_in_flight: Counter = Counter()
        self._attempts: Counter = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                status, headers, payload = fake.respond(body, {k.lower(): v for k, v in self.headers.items()})
                if status is None:
                    return  # a hang: no reply at all
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for name, value in {"content-type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def stop(self) -> None:
        self._stopping.set()  # ends every hang at once
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def count(self, behaviour: str | None = None) -> Counter:
        """Requests per input (the first user message), for one behaviour or all."""
        return Counter(r["input"] for r in self.requests if behaviour is None or r["behaviour"] == behaviour)

    def respond(self, body: dict, headers: dict) -> tuple[int | None, dict, dict]:
        behaviour = body["model"]
        system = body["messages"][0]["content"]
        user = body["messages"][1]["content"]
        schema = json.loads(system[system.index(SCHEMA_MARK) + len(SCHEMA_MARK):])
        with self._lock:
            attempt = self._attempts[(behaviour, user)]
            self._attempts[(behaviour, user)] += 1
            self.requests.append({"behaviour": behaviour, "input": user, "body": body, "attempt": attempt})
            self.headers.append(headers)
            self.in_flight[behaviour] += 1
            self.most_in_flight[behaviour] = max(self.most_in_flight[behaviour], self.in_flight[behaviour])
        try:
            return self._respond(behaviour, body, headers, schema, user, attempt)
        finally:
            with self._lock:
                self.in_flight[behaviour] -= 1

    def _respond(self, behaviour, body, headers, schema, user, attempt):
        response_format = (body.get("response_format") or {}).get("type")
        answer = json.dumps(brain(schema, user))
        if behaviour == "hang":
            self._stopping.wait(10)
            return None, {}, {}
        if behaviour == "slow":
            time.sleep(0.15)
        if behaviour == "echo-key":
            return 401, {}, {"error": {"message": f"bad key in {headers.get('authorization')}", "type": "auth"}}
        if behaviour == "ratelimit" and attempt == 0:
            return 429, {"retry-after-ms": "200"}, {"error": {"message": "slow down", "type": "rate_limit"}}
        if behaviour == "ratelimit-seconds" and attempt == 0:
            return 429, {"retry-after": "1"}, {"error": {"message": "slow down", "type": "rate_limit"}}
        if behaviour == "error500" and attempt == 0:
            return 500, {}, {"error": {"message": "boom", "type": "server_error"}}
        if behaviour == "reject-schema" and response_format == "json_schema":
            return 400, {}, {"error": {"message": "response_format json_schema is not supported", "type": "invalid"}}
        if behaviour == "reject-formats" and response_format is not None:
            return 400, {}, {"error": {"message": "response_format is not supported", "type": "invalid"}}
        if behaviour == "reject-logprobs" and body.get("logprobs"):
            return 400, {}, {"error": {"message": "logprobs are not supported", "type": "invalid"}}
        content, refusal, finish = answer, None, "stop"
        if behaviour in ("offlabel", "offlabel-always") and (attempt == 0 or behaviour == "offlabel-always"):
            content = json.dumps(wrong(schema, user))
        elif behaviour == "badjson" and attempt == 0:
            content = answer[:-3]
        elif behaviour == "fenced":
            content = f"```json\n{answer}\n```"
        elif behaviour == "ignore-schema":
            content = f"Sure! Here is the answer: {answer} Hope this helps."
        elif behaviour in ("refusal", "refusal-always") and (attempt == 0 or behaviour == "refusal-always"):
            content, refusal = None, "I'm sorry, I can't help with that."
        elif behaviour == "length" and attempt == 0:
            content, finish = answer[: len(answer) // 2], "length"
        logprobs = None
        if body.get("logprobs") and behaviour != "nologprobs" and content is not None:
            logprobs = {"content": tokens_of(content, schema), "refusal": None}
        usage = {"prompt_tokens": 10 * len(body["messages"]), "completion_tokens": 5, "total_tokens": 10 * len(body["messages"]) + 5}
        return 200, {}, {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": behaviour,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "finish_reason": finish,
                    "logprobs": logprobs,
                }
            ],
            "usage": usage,
        }
