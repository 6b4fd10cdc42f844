"""The one error hierarchy of distilkit.

Every error a user can trigger with bad input is a `DistilkitError` whose message names the offending value
and the fix. Subclasses also derive from the builtin a caller would catch for the same mistake
(`ValueError`, `OSError`), so code written against the reference's exceptions keeps working.
"""


class DistilkitError(Exception):
    """Base class of every error distilkit raises on purpose: catch it to handle any of them.

    >>> from distilkit import DistilBertConfig
    >>> try:
    ...     DistilBertConfig(dim=100)
    ... except DistilkitError as error:
    ...     print(type(error).__name__, "-", error)
    ConfigError - dim=100 is not divisible by n_heads=12; pick n_heads dividing dim (e.g. n_heads=4)
    """


class ConfigError(DistilkitError, ValueError):
    """A configuration value is invalid (wrong type, out of range, inconsistent with another field).

    >>> from distilkit import DistilBertConfig
    >>> DistilBertConfig(num_label=10)
    Traceback (most recent call last):
    ...
    distilkit.errors.ConfigError: num_label: did you mean num_labels? ...
    """


class CheckpointError(DistilkitError, OSError):
    """A checkpoint cannot be found, read, trusted or matched to the model.

    >>> from distilkit import AutoModel
    >>> AutoModel.from_pretrained("no such folder")
    Traceback (most recent call last):
    ...
    distilkit.errors.CheckpointError: 'no such folder' is not an existing local directory, nor a valid Hub id ...
    """


class TokenizerError(DistilkitError, ValueError):
    """Tokenizer files are malformed, or a tokenizer was asked to do something impossible.

    >>> from distilkit.tokenization import DistilBertTokenizerFast
    >>> DistilBertTokenizerFast(vocab={"hello": 0})
    Traceback (most recent call last):
    ...
    distilkit.errors.TokenizerError: the vocabulary has no unk_token '[UNK]'; add it to the vocabulary or ...
    """


class InputError(DistilkitError, ValueError):
    """A call received input it cannot process (wrong type, out-of-range ids, too long, ...).

    >>> from distilkit.pipelines.base import resolve_device
    >>> resolve_device("warp-drive")
    Traceback (most recent call last):
    ...
    distilkit.errors.InputError: device='warp-drive' is not a device name; use e.g. 'cpu', 'cuda' or 'cuda:1'
    """


class MissingExtraError(DistilkitError, ImportError):
    """An optional layer was used without its extra installed; the message names `pip install distilkit[...]`."""


class RemoteError(DistilkitError, RuntimeError):
    """A remote model (`distilkit.remote`) failed: its server refused or kept failing the request; the message
    names the input and what came back (never the API key).

    It is also the base of `RemoteAnswerError` and `RemoteTimeoutError`: catch it to handle any remote failure.
    Here the "server" is a local port where nothing listens, so every request fails to connect:

    >>> import socket
    >>> from distilkit.pipelines import pipeline
    >>> from distilkit.remote import OpenAICompatible
    >>> closed = socket.socket()
    >>> closed.bind(("127.0.0.1", 0))   # a port of our own that does not listen
    >>> port = closed.getsockname()[1]
    >>> backend = OpenAICompatible("my-llm", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    >>> classifier = pipeline("text-classification", model=backend, labels=["POSITIVE", "NEGATIVE"])
    >>> try:
    ...     classifier("I loved it")
    ... except RemoteError as error:
    ...     print(type(error).__name__, "-", error)
    RemoteError - the input: 'my-llm' at http://127.0.0.1:.../v1 kept failing (APIConnectionError) after 0 retries; ...
    >>> closed.close()
    """


class RemoteAnswerError(RemoteError, ValueError):
    """A remote model's answers still did not validate (label outside the set, not a substring, not JSON,
    refused, cut off) after the allowed re-asks.

    A fake chat server on a local port that always answers a label it was not offered:

    >>> import json, threading
    >>> from http.server import BaseHTTPRequestHandler, HTTPServer
    >>> from distilkit.pipelines import pipeline
    >>> from distilkit.remote import OpenAICompatible
    >>> class OffLabel(BaseHTTPRequestHandler):
    ...     def do_POST(self):
    ...         self.rfile.read(int(self.headers["content-length"]))
    ...         message = {"role": "assistant", "content": '{"label": "MAYBE"}'}
    ...         body = json.dumps({"choices": [{"index": 0, "finish_reason": "stop", "message": message}]})
    ...         self.send_response(200)
    ...         self.send_header("content-type", "application/json")
    ...         self.end_headers()
    ...         self.wfile.write(body.encode())
    ...     def log_message(self, *args):   # quiet
    ...         pass
    >>> server = HTTPServer(("127.0.0.1", 0), OffLabel)
    >>> threading.Thread(target=server.serve_forever, daemon=True).start()
    >>> backend = OpenAICompatible("my-llm", base_url=f"http://127.0.0.1:{server.server_port}/v1")
    >>> classifier = pipeline("text-classification", model=backend, labels=["POSITIVE", "NEGATIVE"])
    >>> classifier("I loved it")
    Traceback (most recent call last):
    ...
    distilkit.errors.RemoteAnswerError: the input ('I loved it'): 'my-llm' at http://127.0.0.1:.../v1 gave no valid answer in 3 tries; the last problem: the answer['label'] is 'MAYBE', which is not one of the allowed values ['POSITIVE', 'NEGATIVE']; ...
    >>> server.shutdown()
    >>> server.server_close()
    """


class RemoteTimeoutError(RemoteError, TimeoutError):
    """A remote model gave no answer within the call's total timeout (retries and re-asks included).

    A "server" on a local port that accepts connections and never answers:

    >>> import socket
    >>> from distilkit.pipelines import pipeline
    >>> from distilkit.remote import OpenAICompatible
    >>> silent = socket.socket()
    >>> silent.bind(("127.0.0.1", 0))
    >>> silent.listen()   # connections are accepted by the kernel; nobody reads or replies
    >>> port = silent.getsockname()[1]
    >>> backend = OpenAICompatible("my-llm", base_url=f"http://127.0.0.1:{port}/v1", timeout=0.3)
    >>> classifier = pipeline("text-classification", model=backend, labels=["POSITIVE", "NEGATIVE"])
    >>> classifier("I loved it")
    Traceback (most recent call last):
    ...
    distilkit.errors.RemoteTimeoutError: the input: 'my-llm' at http://127.0.0.1:.../v1 failed (APITimeoutError) and the next try (in ... s) would pass the timeout (0.3 s per input); ...
    >>> silent.close()
    """
