"""The worked examples of docs/pipelines.md run as written: every python block, in order, in one namespace."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "pipelines.md"


def test_every_example_in_the_pipelines_guide_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) >= 10
    monkeypatch.chdir(tmp_path)  # the examples save their models in the working directory
    namespace: dict = {"__name__": "pipelines_guide"}
    try:
        for number, block in enumerate(blocks, start=1):
            try:
                exec(compile(block, f"{DOC.name} block {number}", "exec"), namespace)
            except Exception as error:  # name the block, so a broken example is easy to find
                pytest.fail(f"{DOC.name} example {number} failed: {type(error).__name__}: {error}\n{block}")
    finally:  # the guide registers a model type and a task; leave the registries as they were
        from distilkit import AutoConfig, AutoModelForSequenceClassification
        from distilkit.pipelines import TASKS

        AutoConfig._registry.pop("my-distil", None)
        if "MyConfig" in namespace:
            AutoModelForSequenceClassification._registry.pop(namespace["MyConfig"], None)
        TASKS.pop("sentence-similarity", None)
