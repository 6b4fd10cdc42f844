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
