"""The distilkit version: one home, read by the package root, by `config.json` writers and by pyproject.toml."""

__version__ = "0.1.0"
