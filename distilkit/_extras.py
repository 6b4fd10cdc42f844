"""Lazy imports of optional dependencies: `require("onnxruntime", "onnx")` returns the module or raises one
`MissingExtraError` line naming the extra to install, so `import distilkit` never pays for (or needs) an extra.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError


def require(module: str, extra: str, purpose: str = "") -> ModuleType:
    """The imported module, or `MissingExtraError("... pip install 'distilkit[extra]'")`.

    >>> require("json", "none").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        needed = f" for {purpose}" if purpose else ""
        raise MissingExtraError(
            f"{module} is needed{needed} but is not installed ({error}); install it with: "
            f"pip install 'distilkit[{extra}]'"
        ) from None
