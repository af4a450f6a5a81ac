"""train.varres: the variable-resolution network, masked padding, per-shape compilation,
interleaving."""

import json
from collections import Counter

import jax.numpy as jnp
import numpy as np
import pytest
from compilations import STEPS, compilations
from flax import nnx
from synthetic import blobs

import configs.varres
from train.data.batching import epoch_chunks
from train.data.datasets import Datasets
from train.errors import ConfigError
from train.loop import evaluate, train_and_evaluate
from train.models import FixedCNN, VarResCNN, matching_width, model_factory, num_params
from train.progress import EpochProgress
from train.run import Run
from train.steps import Steps, canvas_mask


@pytest.mark.slow
def test_q15_parameter_table():
    assert num_params(FixedCNN(rngs=nnx.Rngs(0))) == 29_066
    assert (
        num_params(VarResCNN((16, 32, 64), rngs=nnx.Rngs(0))) == 23_946
    )  # N = 64: fewer than the fixed network
    n = matching_width(29_066, lambda n: VarResCNN((16, 32, n), rngs=nnx.Rngs(0)))
    assert n == 81 == configs.varres.MATCHED_N
    assert num_params(VarResCNN((16, 32, n), rngs=nnx.Rngs(0))) == 29_029
    config = configs.varres.get_config()
    assert config.varres.channels == (16, 32, 81)
    assert config.fixed.channels == (
        16,
        32,
        64,
    )  # the Q12/Q17 baselines are the fixed network of the first table


def test_config_pooling_chooses_the_global_pooling():
    config = configs.varres.get_config()
    assert config.pooling == "max"  # the default; --config.pooling=mean switches
    config.pooling = "mean"
    assert model_factory(config)(nnx.Rngs(0)).pooling == "mean"
    config.pooling = "median"
    with pytest.raises(ValueError, match="pooling must be 'max' or 'mean', got 'median'"):
        model_factory(config)(nnx.Rngs(0))


@pytest.mark.slow
def test_deep_variant_reaches_about_1x1_and_matches_the_parameter_budget():
    model = VarResCNN(configs.varres.DEEP_CHANNELS, rngs=nnx.Rngs(0))
    assert abs(num_params(model) - 29_066) / 29_066 < 0.02
    assert model.min_input == 32  # 32 -> 1x1, 64 -> 2x2 before global pooling
    with pytest.raises(ValueError, match="too small for 5 2x2 pooling stages"):
        model(jnp.zeros((1, 16, 16, 1)))


@pytest.mark.slow
@pytest.mark.parametrize("pooling", ["max", "mean"])
@pytest.mark.parametrize("channels", [(16, 32, 81), configs.varres.DEEP_CHANNELS])
def test_padded_image_gets_the_same_logits_as_the_unpadded_one(pooling, channels):
    """End to end through the network: images of odd, non-square sizes on one larger canvas."""
    model = VarResCNN(channels, pooling=pooling, rngs=nnx.Rngs(0))
    model.linear.bias[...] = jnp.arange(10.0)  # non-zero biases everywhere, so padding would leak
    for conv in model.convs:
        conv.bias[...] = jnp.full(conv.bias.shape, 0.05)
    rng = np.random.default_rng(0)
    sizes = [(33, 35), (47, 32), (40, 41)]
    images = [jnp.asarray(rng.uniform(size=(1, h, w, 1)), jnp.float32) for h, w in sizes]
    canvas = (
        jnp.zeros((3, 48, 48, 1))
        .at[0, :33, :35]
        .set(images[0][0])
        .at[1, :47, :32]
        .set(images[1][0])
        .at[2, :40, :41]
        .set(images[2][0])
    )
    mask = canvas_mask(jnp.asarray(sizes), 48, 48)
    forward = nnx.jit(lambda model, *inputs: model(*inputs))  # one program per shape, not per op
    padded_logits = forward(model, canvas, mask)
    for i, image in enumerate(images):
        np.testing.assert_allclose(padded_logits[i], forward(model, image)[0], rtol=1e-5, atol=1e-5)
    assert (
        float(jnp.abs(forward(model, canvas)[0] - padded_logits[0]).max()) > 1e-3
    )  # without the mask it differs


def small_varres_config(**overrides):
    config = configs.varres.get_config()
    config.update(
        num_epochs=2, batch_size=8, learning_rate=3e-3, eval_batch_size=50, steps_per_call=4
    )
    config.update(overrides)
    return config


def three_resolution_datasets():
    # 90 / 70 / 45 training images of three resolutions (one not square): every group has a
    # partial batch
    train = [blobs(90, 32, 32, seed=1), blobs(70, 48, 48, seed=2), blobs(45, 40, 24, seed=3)]
    val = [blobs(30, 32, 32, seed=4), blobs(23, 48, 48, seed=5), blobs(17, 40, 24, seed=6)]
    test = [blobs(31, 32, 32, seed=7), blobs(20, 48, 48, seed=8), blobs(19, 40, 24, seed=9)]
    return Datasets(train, val, test)


@pytest.mark.slow
def test_one_compiled_train_and_eval_step_per_resolution_and_no_image_dropped(tmp_path):
    config = small_varres_config()
    with Run.open(tmp_path, config) as run, compilations() as compiled:
        summary = train_and_evaluate(
            run.config,
            run,
            three_resolution_datasets(),
            model_factory(config),
            progress=EpochProgress(live=False),
        )
    shapes = [(32, 32, 1), (48, 48, 1), (40, 24, 1)]
    # every shape is trained and evaluated (every image counts, below), so one compilation per
    # shape in all means exactly one for each
    assert {step: compiled[step] for step in STEPS} == {
        "_train_chunk_impl": len(shapes),
        "_eval_batch_impl": len(shapes),
        "_predict_impl": 0,
    }
    assert summary["test_n"] == 70 and summary["num_val"] == 70
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2


def test_batches_of_all_resolutions_interleave_in_a_fresh_order_every_epoch():
    sizes = [400, 480, 320]  # 50, 60 and 40 batches of 8
    plans = [epoch_chunks(sizes, 8, 1, np.random.default_rng([0, epoch])) for epoch in (1, 2)]
    for plan in plans:
        order = [c.group for c in plan]
        assert Counter(order) == {0: 50, 1: 60, 2: 40}  # every full batch exactly once
        switches = sum(a != b for a, b in zip(order, order[1:]))
        assert (
            switches > 60
        )  # interleaved, not one resolution after another (that would be 2 switches)
        for c in plan:
            assert c.batch_indices.shape == (1, 8) and c.batch_indices.max() < sizes[c.group]
    assert [c.group for c in plans[0]] != [c.group for c in plans[1]]


def test_a_call_takes_several_batches_of_one_resolution_and_resolutions_still_interleave():
    sizes, k = (
        [400, 480, 320],
        configs.varres.get_config().steps_per_call,
    )  # 50, 60 and 40 batches of 8
    assert k > 1
    plan = epoch_chunks(sizes, 8, k, np.random.default_rng(0))
    for g, size in enumerate(sizes):
        chunks = [c for c in plan if c.group == g]
        assert (
            len({c.batch_indices.shape for c in chunks}) == 1
        )  # one length per group: one compilation
        assert all(1 < len(c.valid) <= k for c in chunks)
        rows = np.concatenate(
            [c.batch_indices[c.valid].ravel() for c in chunks]
        )  # (full batches·8,)
        assert len(rows) == size // 8 * 8 == len(set(rows.tolist()))  # every full batch once
    order = [c.group for c in plan]
    assert sum(a != b for a, b in zip(order, order[1:])) >= len(plan) // 3  # still interleaved


@pytest.mark.slow
def test_bucketed_canvases_train_and_evaluate_like_the_unpadded_images(tmp_path):
    """Many resolutions -> few canvases + masks: evaluation of the padded split equals the
    unpadded one."""
    from train.data.resolution import bucket

    config = small_varres_config(num_epochs=1)
    groups = [blobs(12, 32 + 3 * i, 32 + 2 * i, seed=i) for i in range(6)]  # 6 resolutions
    bucketed = bucket(groups, max_shapes=3, step=16)
    assert len(bucketed) <= 3 and all(g.sizes is not None for g in bucketed)
    model = model_factory(config)(nnx.Rngs(0))
    graphdef, params = nnx.split(model)
    steps = Steps(graphdef, tx=None)
    exact = evaluate(steps, params, groups, batch_size=8)
    padded = evaluate(steps, params, bucketed, batch_size=8)
    assert exact["n"] == padded["n"] == 72
    assert padded["accuracy"] == exact["accuracy"]
    assert padded["loss"] == pytest.approx(exact["loss"], rel=1e-5)
    with Run.open(tmp_path, config) as run:
        summary = train_and_evaluate(
            run.config,
            run,
            Datasets(bucketed, bucketed, bucketed),
            model_factory(config),
            progress=EpochProgress(live=False),
        )
    assert summary["test_n"] == 72


@pytest.mark.parametrize("size, expected", [(28, 29_066), (64, 64_266)])
def test_resized_baselines_are_the_fixed_network_of_the_first_table(size, expected):
    config = configs.varres.get_config()
    config.model = "fixed"
    config.fixed.image_size = size
    model = model_factory(config)(nnx.Rngs(0))
    assert isinstance(model, FixedCNN) and num_params(model) == expected


def test_augmentation_on_bucketed_canvases_is_refused(tmp_path):
    config = small_varres_config(num_epochs=1)
    config.augment = True
    padded = [blobs(16, 30, 33, canvas=(32, 48))]
    with pytest.raises(
        ConfigError,
        match="config.augment = True cannot train on images padded onto bucketed canvases",
    ):
        with Run.open(tmp_path, config) as run:
            train_and_evaluate(
                run.config,
                run,
                Datasets(padded, padded, padded),
                model_factory(config),
                progress=EpochProgress(live=False),
            )
