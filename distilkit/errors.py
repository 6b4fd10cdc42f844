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
    names the input and what came back (never the API key)."""


class RemoteAnswerError(RemoteError, ValueError):
    """A remote model's answers still did not validate (label outside the set, not a substring, not JSON,
    refused, cut off) after the allowed re-asks."""


class RemoteTimeoutError(RemoteError, TimeoutError):
    """A remote model gave no answer within the call's total timeout (retries and re-asks included)."""
