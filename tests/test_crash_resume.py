"""A run killed at any point of an epoch's save, or with a damaged checkpoint, resumes to exactly
the uninterrupted run's metrics.jsonl and summary.json (tiny synthetic runs, cached compilation)."""

import json
import shutil

import pytest
from synthetic import blob_datasets, outcome

import configs.fixed
from train.checkpoints import Checkpoints
from train.loop import train_and_evaluate
from train.models import model_factory
from train.progress import EpochProgress
from train.run import Run
from train.rundir import RunDir
from train.trained import TrainedRun

# trains networks (shared module fixtures): the whole module is in the full suite only
pytestmark = pytest.mark.slow


def tiny_config():
    config = configs.fixed.get_config()
    config.update(
        num_epochs=2, batch_size=16, learning_rate=3e-3, steps_per_call=8, eval_batch_size=100
    )
    config.fixed.channels = (4, 8, 8)
    return config


def train(workdir, resume=False, lines=None):
    """The tiny run in ``workdir`` (a new one, or continued with ``resume``), as train.fixed runs
    it."""
    progress = EpochProgress(live=False)
    if lines is not None:
        progress.line = lines.append
    with Run.open(workdir, tiny_config(), resume=resume) as run:
        return train_and_evaluate(
            run.config, run, blob_datasets(256, 100), model_factory(run.config), progress=progress
        )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted") / "run"
    train(workdir)
    return outcome(workdir)


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs (not even except Exception handlers)."""


def kill_at(monkeypatch, point: str, epoch: int):
    """Make the save sequence of ``epoch`` die at ``point``: halfway through writing its metrics
    line ("torn"), after checkpoint last or best ("last", "best"; both leave the epoch's metrics
    line beyond the commit), halfway through writing checkpoint last ("half-last"), or after the
    commit record, before the old checkpoints are removed ("commit")."""
    append, save, commit = RunDir.append_metrics, Checkpoints.save, RunDir.commit

    def append_metrics(self, record):
        if record["epoch"] == epoch and point == "torn":
            with self.metrics_file.open("a") as f:
                f.write(json.dumps(record)[:25])
            raise Killed
        append(self, record)

    def save_checkpoint(self, role, at, state, record):
        entry = save(self, role, at, state, record)
        if at == epoch and point == "half-last" and role == "last":
            folder = self.run.path / entry["path"]
            shutil.rmtree(folder / "state")
            raise Killed
        if at == epoch and point == role:
            raise Killed
        return entry

    def commit_epoch(self, record):
        commit(self, record)
        if record["epoch"] == epoch and point == "commit":
            raise Killed

    monkeypatch.setattr(RunDir, "append_metrics", append_metrics)
    monkeypatch.setattr(Checkpoints, "save", save_checkpoint)
    monkeypatch.setattr(RunDir, "commit", commit_epoch)


@pytest.mark.parametrize(
    "point, epoch",
    [("last", 1), ("last", 2), ("best", 2), ("half-last", 2), ("torn", 2), ("commit", 2)],
)
def test_a_kill_anywhere_in_the_save_resumes_to_the_uninterrupted_run(
    tmp_path, monkeypatch, uninterrupted, point, epoch
):
    workdir = tmp_path / "run"
    with monkeypatch.context() as patch:
        kill_at(patch, point, epoch)
        with pytest.raises(Killed):
            train(workdir)
    train(workdir, resume=True)
    assert outcome(workdir) == uninterrupted
    train(workdir, resume=True)  # resuming a finished run changes nothing
    assert outcome(workdir) == uninterrupted
    named = {
        e["path"] for e in json.loads((workdir / "commit.json").read_text())["checkpoints"].values()
    }
    on_disk = {
        str(p.relative_to(workdir))
        for role in ("last", "best")
        for p in (workdir / "checkpoints" / role).iterdir()
    }
    assert on_disk == named  # nothing half-made is left behind


def damage(workdir, role: str):
    """Flip the bytes of the largest file of the committed ``role`` checkpoint."""
    entry = json.loads((workdir / "commit.json").read_text())["checkpoints"][role]
    biggest = max(
        (p for p in (workdir / entry["path"]).rglob("*") if p.is_file()),
        key=lambda p: p.stat().st_size,
    )
    biggest.write_bytes(bytes(b ^ 0xFF for b in biggest.read_bytes()))
    return entry["path"]


def test_a_damaged_last_checkpoint_is_named_and_resume_uses_the_intact_one(tmp_path, uninterrupted):
    workdir, lines = tmp_path / "run", []
    train(workdir)
    damaged = damage(workdir, "last")
    train(workdir, resume=True, lines=lines)
    assert outcome(workdir) == uninterrupted
    (said,) = [line for line in lines if "corrupt" in line]
    assert damaged in said and "intact" in said


def test_with_every_checkpoint_damaged_resume_starts_over_and_still_matches(
    tmp_path, uninterrupted
):
    workdir, lines = tmp_path / "run", []
    train(workdir)
    damage(workdir, "best")
    damage(workdir, "last")
    train(workdir, resume=True, lines=lines)
    assert outcome(workdir) == uninterrupted
    assert any("starting over from epoch 1" in line for line in lines)


def test_evaluate_and_predict_fall_back_to_the_last_checkpoint_when_the_best_is_damaged(
    tmp_path, uninterrupted
):
    workdir, said = tmp_path / "run", []
    train(workdir)
    damaged = damage(workdir, "best")
    run = TrainedRun(workdir, say=said.append)
    assert run.record["epoch"] == 2
    (line,) = said
    assert damaged in line and "checkpoints/last/2" in line
    assert run.predict([blob_datasets(8, 8).test[0].images[i, ..., 0] for i in range(3)]).shape == (
        3,
        10,
    )


def test_a_constant_schedule_run_extended_on_resume_matches_the_longer_run(tmp_path):
    def constant(num_epochs):
        config = tiny_config()
        config.update(lr_schedule="constant", num_epochs=num_epochs)
        return config

    def train_quietly(run):
        datasets, progress = blob_datasets(256, 100), EpochProgress(live=False)
        train_and_evaluate(run.config, run, datasets, model_factory(run.config), progress=progress)

    for name, config in (("longer", constant(2)), ("extended", constant(1))):
        with Run.open(tmp_path / name, config) as run:
            train_quietly(run)
    resumed = {"num_epochs": 2}
    with Run.open(tmp_path / "extended", tiny_config(), resume=True, overrides=resumed) as run:
        train_quietly(run)
    assert outcome(tmp_path / "extended") == outcome(tmp_path / "longer")
