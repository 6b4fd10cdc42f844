"""Data-parallel training: 2 CPU processes under torch.distributed.run equal one process with the same global
batch (final weights within 1e-5), evaluation metrics are gathered across ranks, and only rank 0 writes."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from training_fixtures import (
    ddp_setup,
    one_torch_thread,  # noqa: F401 (autouse fixture)
)

from distilkit import DistilBertForSequenceClassification
from distilkit.training import Trainer

HERE = Path(__file__).resolve().parent
PER_DEVICE = 4


def test_two_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    distributed_dir = tmp_path / "ddp"
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent)}
    # a session of its own, so a hung run's workers can be stopped with the launcher
    launcher = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(HERE / "ddp_worker.py"), str(distributed_dir), str(PER_DEVICE)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, start_new_session=True)
    try:
        _, errors = launcher.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.communicate()
        raise
    assert launcher.returncode == 0, errors[-3000:]
    result = json.loads((distributed_dir / "result.json").read_text())
    assert result["world_size"] == 2

    single_dir = tmp_path / "single"
    model, args, train, evaluation, collator, metrics = ddp_setup(str(single_dir), 2 * PER_DEVICE)
    trainer = Trainer(model, args, train_dataset=train, eval_dataset=evaluation, data_collator=collator,
                      compute_metrics=metrics)
    trainer.train()
    single_metrics = trainer.evaluate()

    trained = DistilBertForSequenceClassification.from_pretrained(distributed_dir / "final")
    difference = max((trained.state_dict()[key] - value).abs().max().item()
                     for key, value in model.state_dict().items())
    assert difference <= 1e-5

    # eval predictions from both ranks' shards, gathered in dataset order (7 rows, none repeated)
    single_predictions = trainer.predict(evaluation).predictions
    assert torch.allclose(torch.tensor(result["predictions"]), torch.from_numpy(single_predictions), atol=1e-5)
    for name in ("eval_loss", "eval_accuracy", "eval_f1"):
        assert abs(result["metrics"][name] - single_metrics[name]) <= 1e-5, name
    logged = [entry["loss"] for entry in result["log"] if "loss" in entry]
    expected = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert torch.allclose(torch.tensor(logged), torch.tensor(expected), atol=1e-5)

    # rank 0 alone wrote: one log line per logged step, one set of checkpoints
    lines = (distributed_dir / "trainer_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines if "loss" in json.loads(line)] == [2, 4, 6]
    assert sorted(path.name for path in distributed_dir.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]
    rng = json.loads((distributed_dir / "checkpoint-3" / "rng_state.json").read_text())
    assert sorted(rng) == ["0", "1"]  # both ranks' RNG states, gathered into rank 0's single file
