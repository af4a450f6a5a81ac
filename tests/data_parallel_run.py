"""Train a small run and print its metrics as JSON; run by test_data_parallel.py in a
subprocess, with XLA_FLAGS forcing one or two host devices, or as one of several processes:

    python data_parallel_run.py WORKDIR fixed|varres [COORDINATOR_ADDRESS NUM_PROCESSES PROCESS_ID]
"""

import json
import sys
from pathlib import Path

# the helpers beside this file, and train/configs from the repository root (not installed)
sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent.parent)]

import jax  # noqa: E402
from synthetic import blob_datasets, blobs  # noqa: E402

import configs.fixed  # noqa: E402
import configs.varres  # noqa: E402
from train import distributed  # noqa: E402
from train.data.datasets import Datasets  # noqa: E402
from train.loop import train_and_evaluate  # noqa: E402
from train.models import model_factory  # noqa: E402
from train.progress import EpochProgress  # noqa: E402
from train.run import Run  # noqa: E402


def main(workdir: str, which: str, *processes: str) -> None:
    if processes:
        address, count, index = processes
        distributed.initialize(address, int(count), int(index))
    if which == "fixed":
        config, datasets = configs.fixed.get_config(), blob_datasets(num_train=320, num_eval=100)
    else:
        config = configs.varres.get_config()
        datasets = Datasets(
            [blobs(96, 32, 32, seed=1), blobs(64, 40, 24, seed=2)],
            [blobs(30, 32, 32, seed=3)],
            [blobs(30, 40, 24, seed=4)],
        )
    config.update(
        num_epochs=2, batch_size=16, learning_rate=3e-3, eval_batch_size=20, steps_per_call=4
    )
    with Run.open(Path(workdir), config) as run:  # a writer in process 0 only
        summary = train_and_evaluate(
            run.config, run, datasets, model_factory(config), progress=EpochProgress(live=False)
        )
    if not distributed.is_primary():
        return
    metrics = [
        json.loads(line) for line in (Path(workdir) / "metrics.jsonl").read_text().splitlines()
    ]
    found = {"devices": len(jax.devices()), "processes": jax.process_count(), "metrics": metrics}
    print(json.dumps(found | {"test_loss": summary["test_loss"], "test_n": summary["test_n"]}))


if __name__ == "__main__":
    main(*sys.argv[1:])
