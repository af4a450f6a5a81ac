"""A finished (or interrupted) run of train.fixed or train.varres, loaded for use.

The run's ``config.json`` rebuilds the model and the best-by-validation
checkpoint its commit record names supplies its parameters (the last one if the
best is damaged, said on one line). Images are prepared as the model takes
them (:func:`train.data.datasets.prepare_groups`): resized for a fixed-resolution
model, grouped or bucketed by resolution for a variable-resolution one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from train.checkpoints import Checkpoints
from train.data.batching import eval_batches
from train.data.datasets import prepare_groups
from train.data.groups import Split
from train.data.resolution import group_by_resolution
from train.loop import evaluate, make_optimizer
from train.models import model_factory
from train.rundir import RunDir
from train.steps import Steps


class TrainedRun:
    def __init__(self, workdir: Path, say=lambda line: print(line, file=sys.stderr)):
        """``say`` gets the one line telling that a damaged best checkpoint was passed over for the
        last one."""
        run = RunDir(workdir)
        self.workdir = run.path
        self.config = run.read_config()
        model = model_factory(self.config)(nnx.Rngs(0))
        graphdef, params = nnx.split(model)
        like = {"params": params, "opt_state": make_optimizer(self.config, 1).init(params)}
        state, self.record = Checkpoints(run).best_for_use(run.read_commit(), like, say)
        self.steps = Steps(graphdef, tx=None)
        self.params = jax.device_put(state["params"], self.steps.replicated)

    def prepare(self, images: list[np.ndarray], labels: np.ndarray) -> Split:
        """uint8 (H, W) images of any resolutions -> groups the model takes."""
        return prepare_groups(self.config, group_by_resolution(images, labels))

    def evaluate(self, split: Split) -> dict:
        # the run may have been trained on another number of devices than there are now
        return evaluate(
            self.steps, self.params, split, self.steps.device_multiple(self.config.eval_batch_size)
        )

    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        """Class probabilities (n, 10), in the order of ``images``."""
        order = np.arange(len(images), dtype=np.int32)  # carried as labels to undo the grouping
        probabilities = np.zeros((len(images), 10), np.float32)
        batch = self.steps.device_multiple(min(self.config.eval_batch_size, len(images)))
        for group in self.prepare(images, order):
            for batch_images, index, sizes, weights in eval_batches(group, batch):
                result = np.asarray(self.steps.predict(self.params, batch_images, sizes))
                probabilities[index[weights > 0]] = result[weights > 0]
        return probabilities
