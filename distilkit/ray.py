"""Batch inference on Ray Data: `map_pipeline(dataset, task, model=...)` runs a distilkit pipeline over a
`ray.data.Dataset` on a pool of actors, each loading the model once, and returns the dataset with the results
as new columns, rows in input order. Ray is the `distilkit[ray]` extra, imported only when used.

    import ray, distilkit.ray
    scored = distilkit.ray.map_pipeline(ray.data.read_json("reviews.jsonl"), "sentiment-analysis",
                                        model="my-model", num_actors=4)
    scored.write_parquet("scored/")            # columns: the input's, plus label and score

`run_file` is the streaming, resumable file-to-JSONL job behind `distilkit run TASK --file F --out O --ray`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ._extras import require
from .errors import CheckpointError, DistilkitError, InputError

__all__ = ["connect", "map_pipeline", "run_file"]

PURPOSE = "batch inference on Ray Data"
# Tasks that take one text per row. question-answering and multiple-choice take several fields per input.
TEXT_TASKS = ("text-classification", "token-classification", "fill-mask", "feature-extraction",
              "zero-shot-classification")
# The column that holds a task's result when it is a list (entities, candidates, vectors) rather than a dict
LIST_COLUMNS = {"text-classification": "labels", "token-classification": "entities", "fill-mask": "predictions",
                "feature-extraction": "features"}
# The columns a task's dict result adds, checked against the dataset's columns before any work is scheduled
DICT_COLUMNS = {"text-classification": ("label", "score"), "zero-shot-classification": ("sequence", "labels", "scores")}
# Rows one actor call receives: the pipeline sorts them by length before batching, so a call much larger than
# batch_size pads little (the in-process pipeline's streaming window is the same size).
ROWS_PER_CALL = 256
LINE_FORMATS = (".jsonl", ".ndjson", ".json", ".txt", ".text")


def ray_module() -> Any:
    return require("ray", "ray", PURPOSE)


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Make sure this process is connected to Ray and return the `ray` module.

    An existing connection is kept. Otherwise `address` (or `$RAY_ADDRESS`; `"auto"` finds a cluster started
    with `ray start` on this machine) joins a running cluster, and with neither a local Ray is started with
    `num_cpus` CPUs (default: all of them).
    """
    ray = ray_module()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False)
    except ConnectionError as error:
        raise DistilkitError(
            f"cannot connect to the Ray cluster at {address!r} ({error}); start one with `ray start --head` "
            "or leave out --address / RAY_ADDRESS to run on a local Ray"
        ) from None
    return ray


def check_model_on_worker(model: str) -> str | None:
    """Run on a Ray worker: None when `model`'s config.json resolves there, else the one-line reason."""
    from distilkit.hub import resolve_file

    try:
        resolve_file(model, "config.json")
    except DistilkitError as error:
        return str(error)
    return None


class PipelineActor:
    """One Ray Data actor: builds the pipeline once, then maps Arrow batches to batches with result columns."""

    def __init__(self, task: str, model: Any, tokenizer: Any, batch_size: int, text_column: str,
                 output_column: str | None, threads: int, options: dict[str, Any]) -> None:
        import torch

        from distilkit.pipelines import pipeline

        torch.set_num_threads(threads)  # the CPUs Ray reserved for this actor, not every core of the node
        self.pipeline = pipeline(task, model=model, tokenizer=tokenizer, batch_size=batch_size, **options)
        self.text_column = text_column
        self.output_column = output_column

    def __call__(self, table: Any) -> Any:
        import pyarrow

        texts = table.column(self.text_column).to_pylist()
        for name, values in result_columns(self.pipeline(texts), self.pipeline.task, self.output_column).items():
            if name in table.column_names:
                raise InputError(column_clash(name))
            table = table.append_column(name, pyarrow.array(values))
        return table


def result_columns(results: list[Any], task: str, output_column: str | None) -> dict[str, list[Any]]:
    """Per-row results -> columns: a dict result gives one column per key (`label`, `score`), anything else
    (a list of entities, candidates or vectors) one column named `output_column` or the task's default."""
    results = [plain(result) for result in results]
    if output_column is None and results and all(isinstance(result, dict) for result in results):
        return {key: [result.get(key) for result in results] for key in results[0]}
    return {output_column or LIST_COLUMNS.get(task, "result"): results}


def plain(value: Any) -> Any:
    """numpy scalars/arrays and tensors -> Python values Arrow can hold."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def column_clash(name: str) -> str:
    return (f"the dataset already has a column {name!r}, which the results would overwrite; rename it first "
            f"(dataset.rename_columns({{{name!r}: 'gold_{name}'}})) or pass output_column='...'")


def map_pipeline(
    dataset: Any,
    task: str,
    model: Any = None,
    *,
    tokenizer: Any = None,
    batch_size: int = 32,
    num_actors: int = 2,
    num_cpus_per_actor: float = 1,
    num_gpus_per_actor: float = 0,
    text_column: str = "text",
    output_column: str | None = None,
    rows_per_call: int = ROWS_PER_CALL,
    **pipeline_options: Any,
) -> Any:
    """`dataset` with `task`'s results added as columns, computed by `num_actors` Ray actors that each load
    `model` once; lazy like every Ray Data transform, and in input order when consumed.

    - `model`: a directory or Hub id that every node can read (None: the task's embedded default model,
      built here on first use; on a multi-node cluster pass a path on shared storage instead).
    - `batch_size`: rows per forward pass; each actor call receives `rows_per_call` rows and sorts them by
      length before batching, as the in-process pipeline does.
    - `num_gpus_per_actor` > 0 reserves GPUs and runs the model on the first one Ray gives the actor.
    - `output_column`: where a list result goes (default per task: `entities`, `features`, `predictions`);
      when given, dict results (text classification's `label`/`score`) go there whole instead of one column
      per key.
    - `pipeline_options` are the pipeline's own (`top_k`, `aggregation_strategy`, `pooling`, `dtype`, ...).

    Actors that die are restarted and their batches retried (Ray Data's defaults: unlimited restarts and task
    retries). The dataset's DataContext is set to preserve order. Bad input — an unknown task, a missing text
    column, a model that a worker cannot find — raises here, before any batch is scheduled.
    """
    ray = ray_module()
    from .pipelines import canonical_task

    name = canonical_task(task)
    if name not in TEXT_TASKS:
        raise InputError(f"map_pipeline runs tasks that take one text per row ({', '.join(TEXT_TASKS)}); "
                         f"{task!r} takes several fields per input: call its pipeline in Dataset.map_batches")
    if not isinstance(dataset, ray.data.Dataset):
        raise InputError(f"dataset must be a ray.data.Dataset (ray.data.read_json/read_csv/read_parquet/"
                         f"from_items), got {type(dataset).__name__}")
    for label, value in (("num_actors", num_actors), ("rows_per_call", rows_per_call), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{label} must be an int >= 1, got {value!r}")
    if not isinstance(num_cpus_per_actor, int | float) or num_cpus_per_actor <= 0:
        raise InputError(f"num_cpus_per_actor must be a number > 0, got {num_cpus_per_actor!r}")
    columns = dataset.columns()
    if text_column not in (columns or []):
        raise InputError(f"the dataset has no column {text_column!r} (its columns: {columns}); pass "
                         f"text_column='...' naming the column that holds the texts")
    added = [output_column] if output_column else DICT_COLUMNS.get(name, (LIST_COLUMNS.get(name, "result"),))
    for column in added:
        if column in columns:
            raise InputError(column_clash(column))
    if model is None:
        from .models.defaults import resolve

        model = resolve(name)
    if isinstance(model, str | os.PathLike):
        # a relative path would be resolved against each worker's own directory
        model = os.path.abspath(model) if os.path.exists(model) else os.fspath(model)
        problem = ray.get(ray.remote(num_cpus=0)(check_model_on_worker).remote(model))
        if problem is not None:
            raise CheckpointError(f"model {model!r} cannot be loaded on a Ray worker: {problem}")
    options = dict(pipeline_options)
    if num_gpus_per_actor:
        options.setdefault("device", 0)  # Ray sets CUDA_VISIBLE_DEVICES to the actor's own GPUs
    else:
        options.setdefault("device", -1)
    # blocks of one call each, so a single big block (one file, from_items) still spreads over every actor
    mapped = dataset.repartition(target_num_rows_per_block=rows_per_call).map_batches(
        PipelineActor,
        batch_size=rows_per_call,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        num_cpus=num_cpus_per_actor,
        num_gpus=num_gpus_per_actor or None,
        fn_constructor_args=(name, model, tokenizer, batch_size, text_column, output_column,
                             max(1, int(num_cpus_per_actor)), options),
        udf_modifying_row_count=False,
    )
    mapped.context.execution_options.preserve_order = True
    return mapped


# -- the `distilkit run --ray` job: a file in, a JSONL file out, resumable ----------------------------------


def completed_lines(out: Path) -> int:
    """Complete lines of a previous run's output; a torn last line (the run died mid-write) is cut off."""
    if not out.exists():
        return 0
    with out.open("rb+") as handle:
        data = handle.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            handle.truncate(end)
    return data.count(b"\n", 0, end)


def parse_record(line: str, suffix: str, text_column: str, where: str) -> dict[str, Any]:
    """One input line -> one row: a JSON object (or a bare JSON string) for JSONL, the text itself otherwise."""
    if suffix in (".txt", ".text"):
        return {text_column: line.rstrip("\r\n")}
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"{where} is not valid JSON ({error.msg}); give one JSON object per line") from None
    if isinstance(value, str):
        return {text_column: value}
    if not isinstance(value, dict):
        raise InputError(f"{where} is a JSON {type(value).__name__}; give one JSON object per line")
    return value


def scan(path: Path, skip: int, suffix: str, text_column: str) -> tuple[int, int, dict[str, Any] | None]:
    """(byte offset after the first `skip` records, total records, the last skipped record); blank lines are
    not records, as in `distilkit run --file`."""
    offset, total, last = 0, 0, None
    with path.open("rb") as handle:
        position = 0
        for number, raw in enumerate(handle, start=1):
            position += len(raw)
            if not raw.strip():
                continue
            total += 1
            if total == skip:
                offset = position
                last = parse_record(raw.decode("utf-8"), suffix, text_column, f"{path} line {number}")
    return offset, total, last


def lines_datasource(path: Path, offset: int, suffix: str, text_column: str) -> Any:
    """A Ray Data source over the records of a JSONL or text file from byte `offset` on, split into byte
    ranges on line boundaries and read on this (the driver's) node, so the file need not exist on the others."""
    ray = ray_module()
    import pyarrow

    class Lines(ray.data.Datasource):
        def __init__(self) -> None:
            super().__init__()
            self.size = path.stat().st_size

        @property
        def supports_distributed_reads(self) -> bool:
            return False

        def estimate_inmemory_data_size(self) -> int:
            return self.size - offset

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[Any]:
            bounds = [offset]
            step = max(1 << 20, (self.size - offset) // max(1, parallelism))
            with path.open("rb") as handle:
                while bounds[-1] + step < self.size:
                    handle.seek(bounds[-1] + step)
                    handle.readline()  # to the start of the next line
                    if handle.tell() >= self.size:
                        break
                    bounds.append(handle.tell())
            bounds.append(self.size)
            return [ray.data.ReadTask(lambda start=start, end=end: read_range(start, end),
                                      ray.data.block.BlockMetadata(num_rows=None, size_bytes=end - start,
                                                                   exec_stats=None, input_files=(str(path),)))
                    for start, end in zip(bounds, bounds[1:], strict=False) if end > start]

    def read_range(start: int, end: int) -> Iterator[Any]:
        rows: list[dict[str, Any]] = []
        with path.open("rb") as handle:
            handle.seek(start)
            while handle.tell() < end:
                raw = handle.readline()
                if raw.strip():
                    rows.append(parse_record(raw.decode("utf-8"), suffix, text_column, f"{path} at byte {start}"))
                if len(rows) == 1024:
                    yield pyarrow.Table.from_pylist(rows)
                    rows = []
        if rows:
            yield pyarrow.Table.from_pylist(rows)

    return Lines()


def run_file(task: str, file: Path, out: Path, *, model: Any = None, address: str | None = None,
             num_actors: int = 2, batch_size: int = 32, text_column: str = "text",
             progress: bool = True, **pipeline_options: Any) -> int:
    """Run `task` over every record of `file` (JSONL objects or text lines) on Ray and append one JSON line
    per record to `out`, in input order; a previous partial `out` is resumed (its complete lines are kept,
    their inputs skipped). Returns the number of records written by this call."""
    suffix = file.suffix.lower()
    if suffix not in LINE_FORMATS:
        raise InputError(f"--file {str(file)!r}: --ray reads {', '.join(LINE_FORMATS)} files (one record "
                         "per line); convert it, or use distilkit.ray.map_pipeline with ray.data.read_csv")
    if not file.is_file():
        raise InputError(f"--file {str(file)!r} is not a file")
    done = completed_lines(out)
    offset, total, last = scan(file, done, suffix, text_column)
    if done > total:
        raise InputError(f"{out} holds {done} lines but {file} has only {total} records: it is not this "
                         "file's output; pass another --out")
    if done:
        # split on "\n" only: JSON text may hold U+2028 and other characters that str.splitlines() breaks on
        previous = json.loads(out.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1])
        if previous.get(text_column) != last.get(text_column):
            raise InputError(f"{out} does not continue {file}: its line {done} is for "
                             f"{str(previous.get(text_column))!r:.60} but record {done} is "
                             f"{str(last.get(text_column))!r:.60}; pass another --out")
    if done == total:
        return 0
    started = not ray_module().is_initialized()
    # a local Ray gets a CPU per actor plus one for reading the file, even on a smaller machine
    ray = connect(address, num_cpus=max(os.cpu_count() or 1, num_actors + 1))
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False  # ours counts rows written
        dataset = ray.data.read_datasource(lines_datasource(file, offset, suffix, text_column))
        mapped = map_pipeline(dataset, task, model, batch_size=batch_size, num_actors=num_actors,
                              text_column=text_column, **pipeline_options)
        return write_rows(mapped.iter_rows(), out, done, total, progress)
    except ray.exceptions.RayError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise DistilkitError(f"the Ray job failed ({lines[-1] if lines else type(error).__name__}); the complete "
                             f"lines of {out} are kept: run the same command again to resume") from None
    finally:
        if started:
            ray.shutdown()


def run_command(arguments: Any, usage_error: type[Exception]) -> None:
    """`distilkit run TASK --file F --out O --ray [--address A] [--actors N]`: checks the options (mistakes
    raise `usage_error`), then `run_file`."""
    if not (arguments.ray and arguments.out and arguments.file):
        raise usage_error("--ray, --out and --file go together: distilkit run TASK --file big.jsonl "
                          "--out preds.jsonl --ray")
    if arguments.texts:
        raise usage_error("with --ray the inputs come from --file, not from arguments")
    if arguments.actors < 1 or arguments.batch_size < 1:
        raise usage_error(f"--actors and --batch-size must be at least 1, got {arguments.actors} and "
                          f"{arguments.batch_size}")
    options: dict[str, Any] = {}
    if arguments.top_k is not None:
        options["top_k"] = arguments.top_k
    if arguments.labels:
        options["candidate_labels"] = [label.strip() for label in arguments.labels.split(",") if label.strip()]
    written = run_file(arguments.task, arguments.file, arguments.out, model=arguments.model,
                       address=arguments.address, num_actors=arguments.actors, batch_size=arguments.batch_size,
                       text_column=arguments.text_column, **options)
    print(f"{arguments.out}: {written} rows written")


def write_rows(rows: Iterator[dict[str, Any]], out: Path, done: int, total: int, progress: bool) -> int:
    from tqdm.auto import tqdm

    written = 0
    flushed = time.monotonic()
    with out.open("a", encoding="utf-8") as handle, tqdm(total=total, initial=done, unit="row",
                                                         disable=not progress, desc=out.name) as bar:
        for row in rows:
            handle.write(json.dumps(plain(dict(row)), ensure_ascii=False) + "\n")
            written += 1
            bar.update(1)
            if time.monotonic() - flushed > 1.0:  # a crash loses at most a second of results
                handle.flush()
                flushed = time.monotonic()
        handle.flush()
        os.fsync(handle.fileno())
    return written
