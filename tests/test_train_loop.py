"""The shared training loop, on synthetic data: learning, resume, determinism, compilation,
evaluation."""

import json

import numpy as np
import pytest
from compilations import STEPS, compilations
from synthetic import blob_datasets, blobs

import configs.fixed
import configs.varres
from train.data.batching import eval_batches
from train.loop import evaluate, train_and_evaluate
from train.models import model_factory
from train.progress import EpochProgress
from train.run import Run
from train.steps import Steps, examples_per_tile, round_up

# trains networks (shared module fixtures): the whole module is in the full suite only
pytestmark = pytest.mark.slow


def small_config(**overrides):
    config = configs.fixed.get_config()
    config.num_epochs = 3
    config.batch_size = 16
    config.learning_rate = 3e-3
    config.steps_per_call = 8
    config.eval_batch_size = 100
    config.update(overrides)
    return config


def run(tmp_path, name, config, datasets, resume=False, **kwargs):
    workdir = tmp_path / name
    workdir.mkdir(exist_ok=True)
    with Run.open(workdir, config, resume=resume) as opened:
        summary = train_and_evaluate(
            opened.config,
            opened,
            datasets,
            model_factory(config),
            progress=EpochProgress(live=False),
            **kwargs,
        )
    metrics = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return summary, metrics


def without_timing(metrics):
    return [{k: v for k, v in m.items() if k != "seconds"} for m in metrics]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One uninterrupted 3-epoch run of small_config(): (its folder, summary, metrics)."""
    folder = tmp_path_factory.mktemp("full")
    return (folder / "run", *run(folder, "run", small_config(), blob_datasets()))


def test_training_learns_the_synthetic_task(full_run):
    workdir, summary, metrics = full_run
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    assert summary["test_accuracy"] > 0.9  # chance is 0.1
    for name in ("checkpoints/last", "checkpoints/best", "summary.json", "metrics.jsonl"):
        assert (workdir / name).exists()
    assert summary["test_n"] == 250 and summary["num_params"] == 29066
    assert summary["compile_seconds"] > 0 and summary["train_seconds"] > 0


def test_same_seed_gives_identical_metrics(tmp_path):
    config, datasets = small_config(num_epochs=2), blob_datasets()
    _, a = run(tmp_path, "a", config, datasets)
    _, b = run(tmp_path, "b", config, datasets)
    assert without_timing(a) == without_timing(b)
    _, c = run(tmp_path, "c", small_config(num_epochs=2, seed=1), datasets)
    assert without_timing(c) != without_timing(a)


class Interrupt(Exception):
    pass


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, full_run):
    config, datasets = small_config(), blob_datasets()
    _, full_summary, full = full_run

    def crash_after_first_epoch(epoch, metrics):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(tmp_path, "interrupted", config, datasets, on_epoch_end=crash_after_first_epoch)
    resumed_summary, resumed = run(tmp_path, "interrupted", config, datasets, resume=True)
    assert without_timing(resumed) == without_timing(full)
    assert resumed_summary["test_accuracy"] == full_summary["test_accuracy"]
    assert resumed_summary["test_loss"] == full_summary["test_loss"]


def test_one_compilation_for_training_and_one_for_evaluation(tmp_path):
    # 500 training images of 28x28 at batch 16: 31 full batches (a ragged 4 dropped), chunks of 8
    # steps (one padded);
    # 250 evaluation images at batch 100: the last batch is partial
    with compilations() as compiled:
        run(tmp_path, "run", small_config(num_epochs=2), blob_datasets(num_train=500))
    assert {step: compiled[step] for step in STEPS} == {
        "_train_chunk_impl": 1,
        "_eval_batch_impl": 1,
        "_predict_impl": 0,
    }


def test_partial_batch_evaluation_counts_every_image_once():
    config = small_config()
    make = model_factory(config)
    from flax import nnx

    model = make(nnx.Rngs(0))
    graphdef, params = nnx.split(model)
    steps = Steps(graphdef, tx=None)
    group = blobs(257, seed=5)
    batches = list(eval_batches(group, 100))
    assert [int(w.sum()) for *_, w in batches] == [100, 100, 57]
    result = evaluate(steps, params, [group], batch_size=100)
    assert result["n"] == 257
    logits = np.asarray(model(group.images.astype(np.float32) / 255.0))
    expected = float(np.mean(np.argmax(logits, -1) == group.labels))
    assert result["accuracy"] == pytest.approx(expected, abs=1e-9)


def test_round_up_gives_a_batch_every_device_can_share():
    assert [round_up(n, 3) for n in (0, 1, 3, 4, 1000)] == [3, 3, 3, 6, 1002]
    assert round_up(7, 1) == 7


def test_init_model_draws_the_parameters_of_the_eager_model():
    import jax
    from flax import nnx

    from train.models import init_model

    make_model = model_factory(configs.fixed.get_config())
    drawn = {seed: jax.tree.leaves(nnx.state(init_model(make_model, seed))) for seed in (0, 1)}
    for seed in (0, 1):
        eager = jax.tree.leaves(nnx.state(make_model(nnx.Rngs(seed))))
        assert [a.shape for a in drawn[seed]] == [b.shape for b in eager]
        for a, b in zip(drawn[seed], eager):  # float32 rounding of an unoptimized program, no more
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    kernels = [a for a in drawn[0] if a.ndim == 4]
    assert not np.allclose(kernels[0], [a for a in drawn[1] if a.ndim == 4][0])  # the seed counts


@pytest.mark.parametrize("base, side", [(configs.fixed, 28), (configs.varres, 32)])
def test_batch_tiles_give_the_whole_batch_gradient(base, side):
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from train.models import init_model

    graphdef, params = nnx.split(init_model(model_factory(base.get_config()), 0))
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.random((24, side, side, 1), np.float32))
    labels = jnp.asarray(rng.integers(0, 10, 24))
    sizes = jnp.asarray(rng.integers(20, side + 1, (24, 2))) if base is configs.varres else None

    def gradients(tile_pixels):
        return Steps(graphdef, optax.adam(1e-3), tile_pixels=tile_pixels).gradients

    whole = jax.jit(gradients(0))(params, images, labels, sizes)
    tiled = jax.jit(gradients(8 * side * side))(params, images, labels, sizes)  # 3 tiles of 8
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(tiled)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
    # tiles scan over the batch; room for the whole batch: one piece
    assert "scan" in str(jax.make_jaxpr(gradients(8 * side * side))(params, images, labels, sizes))
    one_piece = jax.make_jaxpr(gradients(24 * side * side))(params, images, labels, sizes)
    assert "scan" not in str(one_piece)


@pytest.mark.parametrize(
    "batch, side, tile_pixels, expected",
    [
        (128, 28, 32 * 28 * 28, 32),  # the default's budget: Q8 at batch 128
        (16, 28, 32 * 28 * 28, 16),  # ... at batch 16: one tile
        (16, 64, 32 * 28 * 28, 4),  # a 64x64 batch of 16: 6 would fit, 4 divides 16
        (16, 48, 32 * 28 * 28, 8),
        (100, 28, 32 * 28 * 28, 25),  # the largest divisor that fits
        (16, 256, 32 * 28 * 28, 1),  # one image larger than the budget: one at a time
        (16, 28, 0, 16),  # 0: the whole batch
    ],
)
def test_examples_per_tile(batch, side, tile_pixels, expected):
    assert examples_per_tile(batch, side * side, tile_pixels) == expected


def test_every_tile_spans_all_devices():
    budget = 32 * 28 * 28
    assert examples_per_tile(128, 28 * 28, budget, devices=2) == 32
    assert examples_per_tile(48, 28 * 28, budget, devices=8) == 24  # 32 does not divide 48
    assert examples_per_tile(16, 64 * 64, budget, devices=8) == 8  # 4 would fit, 8 is the least
    assert examples_per_tile(16, 64 * 64, 0, devices=8) == 16
