"""The `distilkit` command: run a pipeline, inspect or convert a model, fine-tune a classifier, manage defaults.

    distilkit run sentiment-analysis "I loved it" "Dull and far too long"
    distilkit inspect path/to/model
    distilkit convert bert_dir distilbert_dir
    distilkit train --data reviews.csv --output my-model
    distilkit models list | build NAME | path NAME
    distilkit serve --model path/to/model[:task] --port 8080

Usage errors exit with code 2 and a one-line message; other failures exit with 1 and a one-line message. Pass
`--debug` (before the sub-command), or set DISTILKIT_DEBUG=1, to see the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import DistilkitError


class UsageError(DistilkitError):
    """A command-line mistake: exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors raise instead of printing the whole usage text."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# Each task's main call options, passed only when given (a task that lacks one says so, listing what it takes).
TASK_OPTIONS = (
    ("--function-to-apply", {"choices": ["softmax", "sigmoid", "none"]},
     "text-classification: the score function (default: from the model's problem type)"),
    ("--aggregation-strategy", {"choices": ["none", "simple", "first", "average", "max"]},
     "ner / token-classification: group sub-word tokens into entities"),
    ("--targets", {"type": lambda text: [word.strip() for word in text.split(",") if word.strip()]},
     "fill-mask: comma-separated candidate words to score instead of the whole vocabulary"),
    ("--hypothesis-template", {}, "zero-shot-classification: e.g. 'This text is about {}.'"),
    ("--multi-label", {"action": "store_true", "default": None},
     "zero-shot-classification: score each label on its own"),
    ("--max-answer-len", {"type": int}, "question-answering: the longest answer in tokens"),
    ("--handle-impossible-answer", {"action": "store_true", "default": None},
     "question-answering: allow an empty answer"),
)


def build_parser() -> Parser:
    parser = Parser(prog="distilkit", description="DistilBERT-family models: pipelines, inspection, conversion, "
                                                  "fine-tuning and offline default models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"distilkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    run = commands.add_parser("run", help="run a pipeline task on texts")
    run.add_argument("task", help="e.g. sentiment-analysis, ner, fill-mask, feature-extraction, "
                                  "zero-shot-classification, question-answering")
    run.add_argument("texts", nargs="*", help="input texts; '-' or none reads lines from stdin")
    run.add_argument("--file", type=Path, help="read one input per line from this file")
    run.add_argument("--model", help="model directory or Hub id (default: the task's embedded default model)")
    run.add_argument("--batch-size", type=int, default=8)
    run.add_argument("--dtype", help="e.g. int8 (dynamic int8 encoder, CPU), float16, bfloat16")
    run.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch",
                     help="onnxruntime runs an ONNX export (needs the onnx extra)")
    run.add_argument("--threads", type=int, help="CPU threads for the model (default: torch's setting)")
    run.add_argument("--top-k", type=int, help="results per input, for tasks that rank")
    run.add_argument("--labels", help="comma-separated candidate labels (zero-shot-classification)")
    run.add_argument("--context", help="the context to answer from (question-answering)")
    for flag, kind, text in TASK_OPTIONS:
        run.add_argument(flag, **kind, help=text)
    run.add_argument("--no-progress", action="store_true", help="no progress bar for --file inputs")
    run.add_argument("--json", action="store_true", help="one JSON document per input on stdout")
    run.add_argument("--ray", action="store_true", help="run on Ray actors (--file and --out needed; resumable)")
    run.add_argument("--out", type=Path, help="with --ray: the JSONL file to write (or resume) results to")
    run.add_argument("--address", help="with --ray: a Ray cluster's address, or auto (default: $RAY_ADDRESS, "
                                       "else a local Ray)")
    run.add_argument("--actors", type=int, default=2, help="with --ray: model copies (Ray actors)")
    run.add_argument("--text-column", default="text", help="with --ray: the JSONL field holding the text")

    export = commands.add_parser("export", help="export a model for another runtime (needs the onnx extra)")
    export.add_argument("format", choices=["onnx"], help="the format: onnx (run by ONNX Runtime)")
    export.add_argument("model", help="model directory or Hub id (any DistilBERT head)")
    export.add_argument("output", type=Path, help="folder to write model.onnx, config.json and tokenizer files to")
    export.add_argument("--int8", action="store_true", help="quantize the MatMul weights to int8 (dynamic)")

    inspect = commands.add_parser("inspect", help="show a model's module tree, parameter counts and config")
    inspect.add_argument("model", help="model directory or Hub id")
    inspect.add_argument("--json", action="store_true", help="parameter counts and config as JSON")

    convert = commands.add_parser("convert", help="convert a BERT checkpoint into a DistilBERT one")
    convert.add_argument("source", type=Path)
    convert.add_argument("output", type=Path)
    convert.add_argument("--allow-pickle", action="store_true")

    train = commands.add_parser(
        "train", help="fine-tune a text classifier from a CSV or JSONL file",
        description="Fine-tune a text classifier (learning rate 5e-5, batch 16). Without --epochs the number of "
                    "epochs is chosen from the data: 3, or on small data enough for at least 120 optimizer steps "
                    "(at most 100 epochs), since a fresh classification head needs about a hundred steps to learn "
                    "(40 rows: 40 epochs, 120 steps, where 3 epochs would make 9 and stay near chance). The chosen "
                    "numbers are printed before training; check the result on held-out rows.")
    train.add_argument("--data", type=Path, required=True, help="CSV or JSONL with text and label columns")
    train.add_argument("--output", type=Path, required=True, help="directory for the trained model")
    train.add_argument("--model", help="base model directory (default: the embedded pretrained encoder)")
    train.add_argument("--epochs", type=float, default=None,
                       help="passes over the data (default: 3, or more on small data for at least 120 steps)")
    train.add_argument("--learning-rate", type=float, default=5e-5)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--text-column", default="text")
    train.add_argument("--label-column", default="label")
    train.add_argument("--seed", type=int, default=42)

    models = commands.add_parser("models", help="list, build or locate the embedded default models")
    actions = models.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    actions.required = True
    actions.add_parser("list", help="the default models and whether each is built")
    build = actions.add_parser("build", help="build a default model now (normally done on first use)")
    build.add_argument("name")
    build.add_argument("--force", action="store_true", help="rebuild even if a valid copy is cached")
    where = actions.add_parser("path", help="print where a default model is cached")
    where.add_argument("name")
    pack = actions.add_parser("pack", help="write a default model (built if needed) into a verified archive, to "
                                           "carry to a machine without network access")
    pack.add_argument("name")
    pack.add_argument("file", type=Path, help="the archive to write, e.g. sentiment.dkpack")
    unpack = actions.add_parser("unpack", help="verify an archive written by `models pack` and install its model")
    unpack.add_argument("file", type=Path)
    unpack.add_argument("--sha256", help="refuse the archive unless its SHA-256 is this (printed by `models pack`)")

    explain = commands.add_parser("explain", help="token attributions and attention maps of one text, as a "
                                                  "summary, an HTML report or pictures")
    explain.add_argument("text")
    explain.add_argument("--model", help="a default model (sentiment, ner, fill-mask), a model directory or a Hub id")
    explain.add_argument("--task", help="text-classification (default), token-classification or fill-mask")
    explain.add_argument("--out", type=Path, action="append", default=[],
                         help="write report.html, or an attention map .png/.svg (repeatable)")
    explain.add_argument("--layer", type=int, help="the attention map of this layer only")
    explain.add_argument("--head", type=int, help="with --layer: this head only, large")
    explain.add_argument("--steps", type=int, default=50, help="integrated-gradients steps")
    explain.add_argument("--method", help="adaptive (default: nodes placed where the logit changes), "
                                           "gausslegendre (Captum's rule) or riemann_{left,right,middle,trapezoid}")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")

    from .serving.settings import add_arguments as add_server_arguments

    serve = commands.add_parser("serve", help="serve models over HTTP (needs the serve extra); docs/serving.md")
    add_server_arguments(serve)
    return parser


def read_inputs(texts: list[str], file: Path | None) -> list[str]:
    if file is not None:
        if texts:
            raise UsageError("give texts as arguments or --file, not both")
        try:
            return [line.rstrip("\n") for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as error:
            raise UsageError(f"cannot read --file {str(file)!r}: {error.strerror or error}") from error
        except UnicodeDecodeError as error:
            raise UsageError(f"--file {str(file)!r} is not UTF-8 text") from error
    if not texts or texts == ["-"]:
        if sys.stdin.isatty():
            raise UsageError("no input: pass texts as arguments, --file FILE, or lines on stdin")
        lines = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        if not lines:
            raise UsageError("no input: stdin held no text (pass texts as arguments, --file FILE, or lines on stdin)")
        return lines
    return texts


def command_run(arguments: argparse.Namespace) -> None:
    if arguments.ray or arguments.out:
        from .ray import run_command

        return run_command(arguments, UsageError)
    from .pipelines import pipeline, supported_tasks

    if arguments.task not in supported_tasks():
        raise UsageError(f"unknown task {arguments.task!r}; choose from {', '.join(supported_tasks())}")
    inputs = read_inputs(arguments.texts, arguments.file)
    if arguments.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {arguments.batch_size}")
    runner = pipeline(arguments.task, model=arguments.model, batch_size=arguments.batch_size, dtype=arguments.dtype,
                      backend=arguments.backend, threads=arguments.threads)
    report = getattr(runner.model, "load_report", None)
    if report is not None and (report.missing or report.mismatched):
        # from_pretrained only warns (a fresh head is how fine-tuning starts); predicting with one is a mistake
        fresh = [*report.missing, *(key for key, _, _ in report.mismatched)]
        raise DistilkitError(f"{arguments.model or arguments.task}: the checkpoint does not fit its config "
                             f"({len(fresh)} weights would be random: {', '.join(fresh[:4])}); e.g. config.json asks "
                             "for more labels than the saved head has. Fix num_labels / id2label, or train the model.")
    options: dict[str, Any] = {}
    if arguments.top_k is not None:
        options["top_k"] = arguments.top_k
    for flag, _, _ in TASK_OPTIONS:
        value = getattr(arguments, flag[2:].replace("-", "_"))
        if value is not None:
            options[flag[2:].replace("-", "_")] = value
    if arguments.file is not None and not arguments.no_progress:
        options["progress"] = True  # a bar on stderr; the results on stdout stay clean
    if runner.task == "zero-shot-classification":
        if not arguments.labels:
            raise UsageError("zero-shot-classification needs --labels 'a,b,c'")
        options["candidate_labels"] = [label.strip() for label in arguments.labels.split(",") if label.strip()]
    if runner.task == "question-answering":
        if not arguments.context:
            raise UsageError("question-answering needs --context TEXT (the inputs are the questions)")
        results = [runner(question=question, context=arguments.context, **options) for question in inputs]
    else:
        results = runner(inputs, **options)
    for text, result in zip(inputs, results, strict=True):
        print_result(text, result, as_json=arguments.json)


def print_result(text: str, result: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"input": text, "output": to_plain(result)}, ensure_ascii=False))
        return
    print(text)
    for row in result if isinstance(result, list) else [result]:
        if isinstance(row, dict):
            cells = [f"{key}={format_value(value)}" for key, value in row.items() if key != "sequence"]
            print("  " + "  ".join(cells))
        else:
            print(f"  {format_value(row)}")


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list) and len(value) > 8:
        return f"[{len(value)} values]"
    return str(to_plain(value))


def to_plain(value: Any) -> Any:
    """Numpy scalars/arrays and tensors -> plain JSON-able Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    return value


def command_export(arguments: argparse.Namespace) -> None:
    from .auto import AutoConfig, AutoTokenizer, registered_model_classes
    from .engine.onnx import export_onnx

    config = AutoConfig.from_pretrained(arguments.model)
    names = config.architectures or ["DistilBertModel"]
    classes = registered_model_classes()
    if names[0] not in classes:
        raise UsageError(f"{arguments.model}: architecture {names[0]!r} is not one distilkit can build "
                         f"({', '.join(sorted(classes))})")
    model = classes[names[0]].from_pretrained(arguments.model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(arguments.model)
    except (DistilkitError, OSError):
        tokenizer = None  # a model folder without tokenizer files exports the graph and config only
    print(export_onnx(model, arguments.output, tokenizer=tokenizer, int8=arguments.int8))


def command_inspect(arguments: argparse.Namespace) -> None:
    from .inspection import describe_model

    report = describe_model(arguments.model)
    if arguments.json:
        print(json.dumps({key: report[key] for key in ("class", "parameters", "config")}, indent=2))
        return
    print(report["tree"])
    print()
    width = max(len(name) for name in report["parameters"])
    for name, count in report["parameters"].items():
        print(f"{name:<{width}}  {count:>13,}")
    print()
    print(json.dumps(report["config"], indent=2, sort_keys=True))


def command_convert(arguments: argparse.Namespace) -> None:
    from .convert import convert

    if not arguments.source.is_dir():
        raise UsageError(f"source {str(arguments.source)!r} is not a directory")
    convert(arguments.source, arguments.output, allow_pickle=arguments.allow_pickle)
    print(arguments.output)


def command_train(arguments: argparse.Namespace) -> None:
    from .training import train

    if not arguments.data.is_file():
        raise UsageError(f"--data {str(arguments.data)!r} is not a file")
    base = arguments.model
    if base is None:
        from .models import registry

        base = registry.ensure("embeddings")
    output = train(data=arguments.data, output_dir=arguments.output, model=base,
                   epochs=arguments.epochs, learning_rate=arguments.learning_rate,
                   batch_size=arguments.batch_size, text_column=arguments.text_column,
                   label_column=arguments.label_column, seed=arguments.seed)
    print(output)


def command_models(arguments: argparse.Namespace) -> None:
    from .models import registry
    from .models.recipes import RECIPES

    if arguments.action == "list":
        for name, recipe in RECIPES.items():
            state = "built" if registry.is_built(name) else "not built"
            print(f"{name:<12} {state:<10} {recipe.summary}")
        return
    if arguments.action == "unpack":
        from .models.transfer import unpack

        print(f"installed {unpack(arguments.file, sha256=arguments.sha256)}")
        return
    if arguments.name not in RECIPES:
        raise UsageError(f"unknown default model {arguments.name!r}; choose from {', '.join(RECIPES)}")
    if arguments.action == "pack":
        from .models.transfer import pack

        path, digest = pack(arguments.name, arguments.file)
        print(f"{path}\nsha256 {digest}  (check on the other machine: distilkit models unpack {path.name} "
              f"--sha256 {digest})")
    elif arguments.action == "build":
        print(registry.build(arguments.name, force=arguments.force))
    else:
        print(registry.model_dir(arguments.name))


def command_explain(arguments: argparse.Namespace) -> None:
    from .explain.command import check_outputs, run

    try:
        check_outputs(arguments.out)
    except DistilkitError as error:
        raise UsageError(str(error)) from None
    run(arguments.text, model=arguments.model, task=arguments.task, outputs=arguments.out, layer=arguments.layer,
        head=arguments.head, n_steps=arguments.steps, as_json=arguments.json,
        **({"method": arguments.method} if arguments.method else {}))


def command_serve(arguments: argparse.Namespace) -> None:
    from .errors import ConfigError
    from .serving import ServerSettings, serve

    try:
        settings = ServerSettings.from_sources(arguments)
        serve(settings)  # returns after a graceful stop (SIGTERM or Ctrl-C)
    except ConfigError as error:  # a bad setting or --model spec, found before the server starts
        raise UsageError(str(error)) from None


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the command line; `run` allows options after the texts (`run TASK "text" --model M`)."""
    parser = build_parser()
    arguments, rest = parser.parse_known_args(argv)
    if arguments.command == "run" and rest:
        run_parser = next(action for action in parser._actions
                          if isinstance(action, argparse._SubParsersAction)).choices["run"]
        start = argv.index("run") + 1
        arguments = argparse.Namespace(**{**vars(arguments), **vars(run_parser.parse_intermixed_args(argv[start:]))})
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return arguments


COMMANDS = {"run": command_run, "export": command_export, "inspect": command_inspect, "convert": command_convert, "train": command_train,
            "models": command_models, "explain": command_explain, "serve": command_serve}


def main(argv: Iterable[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("DISTILKIT_DEBUG", "") not in ("", "0")
    try:
        arguments = parse(argv)
        COMMANDS[arguments.command](arguments)
    except UsageError as error:
        if debug:
            raise
        print(f"distilkit: error: {error}", file=sys.stderr)
        return 2
    except (DistilkitError, OSError) as error:
        if debug:
            raise
        print(f"distilkit: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug or an unforeseen failure: one line, the traceback on request
        if debug:
            raise
        print(f"distilkit: internal error: {type(error).__name__}: {error} (rerun with --debug or DISTILKIT_DEBUG=1 "
              "for the traceback, and report it)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
