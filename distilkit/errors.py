"""The one error hierarchy of distilkit.

Every error a user can trigger with bad input is a `DistilkitError` whose message names the offending value
and the fix. Subclasses also derive from the builtin a caller would catch for the same mistake
(`ValueError`, `OSError`), so code written against the reference's exceptions keeps working.
"""


class DistilkitError(Exception):
    """Base class of every error distilkit raises on purpose."""


class ConfigError(DistilkitError, ValueError):
    """A configuration value is invalid (wrong type, out of range, inconsistent with another field)."""


class CheckpointError(DistilkitError, OSError):
    """A checkpoint cannot be found, read, trusted or matched to the model."""


class TokenizerError(DistilkitError, ValueError):
    """Tokenizer files are malformed, or a tokenizer was asked to do something impossible."""


class InputError(DistilkitError, ValueError):
    """A call received input it cannot process (wrong type, out-of-range ids, too long, ...)."""


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
