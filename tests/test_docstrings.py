"""Docstrings people can learn from (issue 15 item 8): every public name of `distilkit` has one; the most used
entry points document every argument and carry an example; every example in a public docstring runs."""

import doctest
import inspect
import sys

import pytest

import distilkit

# Public names loaded lazily from the TensorFlow layer are left out: importing TensorFlow takes longer than this
# whole file should (tests/test_tf.py covers that layer).
PUBLIC = sorted(name for name in distilkit.__all__ if not name.startswith("TF") and name != "__version__")

# The entry points a newcomer reads first: each documents every parameter and shows a runnable example.
TEACHING = ("pipeline", "Trainer", "TrainingArguments")

# Public names whose docstrings still lack a `>>>` example. The list may only shrink: a new public name without
# an example fails, and so does one that gained an example but is still listed here.
WITHOUT_EXAMPLE: set[str] = set()


def public_objects():
    for name in PUBLIC:
        value = getattr(distilkit, name)
        if not inspect.ismodule(value):
            yield name, value


def test_every_public_name_has_a_docstring():
    missing = [name for name, value in public_objects() if not (inspect.getdoc(value) or "").strip()]
    assert missing == [], f"public names without a docstring: {missing}"


def test_public_names_without_an_example_are_exactly_the_known_gaps():
    without = {name for name, value in public_objects() if ">>>" not in (inspect.getdoc(value) or "")}
    assert sorted(without - WITHOUT_EXAMPLE) == [], "new public names without a docstring example"
    assert sorted(WITHOUT_EXAMPLE - without) == [], "these now have examples: remove them from WITHOUT_EXAMPLE"


@pytest.mark.parametrize("name", TEACHING)
def test_entry_points_document_every_argument(name):
    value = getattr(distilkit, name)
    doc = inspect.getdoc(value)
    signature = inspect.signature(value)
    undocumented = [parameter for parameter in signature.parameters if parameter not in ("self",)
                    and parameter not in doc]
    assert undocumented == [], f"{name}: arguments missing from the docstring: {undocumented}"
    assert "Example" in doc and ">>>" in doc and len(doc) > 1500


def test_pipeline_docstring_lists_every_task():
    from distilkit.pipelines import TASKS

    doc = inspect.getdoc(distilkit.pipeline)
    assert [task for task in TASKS if f'"{task}"' not in doc] == []


def test_every_public_docstring_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    finder, failures = doctest.DocTestFinder(recurse=False), []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    ran = 0
    for name, value in public_objects():
        # run in the defining module's namespace, as `python -m doctest` would
        for test in finder.find(value, name, globs=dict(vars(sys.modules[value.__module__]))):
            result = runner.run(test, out=failures.append)
            ran += result.attempted
    assert ran >= 20 and failures == [], "".join(failures)
