"""Worker of tests/test_training_distributed.py, launched as
`python -m torch.distributed.run --nproc_per_node=2 tests/ddp_worker.py OUTPUT_DIR PER_DEVICE_BATCH`.

Every rank builds the same tiny classifier and data, trains it with the Trainer (gloo on CPU), then evaluates on
an eval set whose size does not divide by the number of ranks; rank 0 alone saves the model and the metrics.
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training_fixtures import ddp_setup  # noqa: E402

from distilkit.training import Trainer  # noqa: E402


def main() -> None:
    output_dir, batch_size = sys.argv[1], int(sys.argv[2])
    model, args, train_data, eval_data, collator, metrics = ddp_setup(output_dir, batch_size)
    trainer = Trainer(model, args, train_dataset=train_data, eval_dataset=eval_data, data_collator=collator,
                      compute_metrics=metrics)
    trainer.train()
    result = trainer.evaluate()
    predictions = trainer.predict(eval_data).predictions
    trainer.save_model(Path(output_dir) / "final")
    if dist.get_rank() == 0:
        (Path(output_dir) / "result.json").write_text(json.dumps(
            {"metrics": result, "predictions": predictions.tolist(), "world_size": dist.get_world_size(),
             "log": trainer.state.log_history}))
    dist.destroy_process_group()


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
