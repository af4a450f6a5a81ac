"""Every bad config value is refused before any work starts: one line naming the field, exit
status 2."""

import subprocess
import sys

import ml_collections
import numpy as np
import pytest

import configs.fixed
import configs.varres
from train.config_check import RULES, check_trainable, flatten, validate
from train.data.resolution import bucket, group_by_resolution
from train.errors import ConfigError

# (base config, field, bad value, what the one-line message must say)
BAD_VALUES = [
    ("fixed", "batch_size", 0, "integer >= 1"),
    ("fixed", "steps_per_call", 0, "integer >= 1"),
    ("fixed", "tile_pixels", -1, "integer >= 0"),
    ("varres", "tile_pixels", 2.5, "integer >= 0"),
    ("fixed", "num_epochs", 0, "integer >= 1"),
    ("fixed", "eval_batch_size", -5, "integer >= 1"),
    ("fixed", "learning_rate", -1e-3, "number > 0"),
    ("fixed", "learning_rate", 0.0, "number > 0"),
    ("fixed", "learning_rate", float("nan"), "number > 0"),
    ("fixed", "lr_schedule", "linear", "'cosine', 'constant'"),
    ("fixed", "model", "resnet", "'fixed', 'varres'"),
    ("fixed", "dataset", "cifar10", "'mnist', 'mnist-varres'"),
    ("fixed", "compute_dtype", "float16", "'float32', 'bfloat16'"),
    ("fixed", "num_val", 0, "integer from 1 to 59999"),
    ("fixed", "num_val", 60_000, "integer from 1 to 59999"),
    ("fixed", "max_train_examples", -1, "integer >= 0"),
    ("fixed", "seed", -1, "integer >= 0"),
    ("fixed", "download", "no", "True or False"),
    ("fixed", "fixed.channels", (), "non-empty tuple"),
    ("fixed", "fixed.channels", (16, 0), "non-empty tuple"),
    ("fixed", "fixed.image_size", 4, "must be >= 8"),  # three 2x2 pooling stages
    ("fixed", "augmentation.scale", 1.0, "< 1"),
    ("fixed", "augmentation.rotation_degrees", -10.0, ">= 0"),
    ("fixed", "augmentation.contrast", 1.5, "< 1"),
    ("varres", "pooling", "avg", "'max', 'mean'"),
    ("varres", "max_resolutions", 0, "integer >= 1"),
    ("varres", "bucket_step", 0, "integer >= 1"),
    ("varres", "varres.channels", (16, -32), "non-empty tuple"),
    (
        "varres",
        "varres.channels",
        (8, 8, 8, 8, 8, 8),
        "at most 5 stages",
    ),  # 32x32 images: five 2x2 poolings
    ("fixed", "fixed.image_size", 32, "must be 28 for dataset 'mnist'"),
]
BASES = {"fixed": configs.fixed, "varres": configs.varres}


def test_the_default_configs_are_valid_and_every_field_has_a_rule():
    for base in BASES.values():
        config = base.get_config()
        validate(config)
        assert set(flatten(config)) <= set(RULES)


@pytest.mark.parametrize(
    "base, field, value, allowed", BAD_VALUES, ids=[f"{f}={v!r}" for _, f, v, _ in BAD_VALUES]
)
def test_bad_value_is_one_line_naming_the_field_and_what_it_allows(base, field, value, allowed):
    # not type-safe: values of another type than the default's, as a hand-edited config.json may
    # hold
    config = ml_collections.ConfigDict(BASES[base].get_config().to_dict(), type_safe=False)
    config.update_from_flattened_dict({field: value})
    with pytest.raises(ConfigError) as info:
        validate(config)
    message = str(info.value)
    assert f"config.{field}" in message and allowed in message and "\n" not in message


def test_unknown_field_and_varres_model_without_its_fields():
    config = configs.fixed.get_config()
    config.unlock()
    config.foo = 1
    with pytest.raises(
        ConfigError,
        match=r"config.foo is not a config field; the fields are: augment, .*batch_size",
    ):
        validate(config)
    config = configs.fixed.get_config()
    config.model = "varres"  # train.fixed's config has no varres.channels or pooling
    with pytest.raises(ConfigError, match="needs the fields of configs/varres.py"):
        validate(config)


def test_rules_on_the_training_split_and_the_devices():
    config = configs.fixed.get_config()  # batch 16, evaluation batch 50
    split = group_by_resolution([np.zeros((28, 28), np.uint8)] * 20, np.zeros(20, np.int32))
    check_trainable(config, split, num_devices=2)
    with pytest.raises(ConfigError, match="config.batch_size = 16 must be a positive multiple of"):
        check_trainable(config, split, num_devices=3)
    with pytest.raises(
        ConfigError, match="config.eval_batch_size = 50 must be a positive multiple"
    ):
        check_trainable(config, split, num_devices=4)
    config.batch_size = 32
    with pytest.raises(ConfigError, match="no group of the training split has a full batch of"):
        check_trainable(config, split, num_devices=1)


def test_bucketing_with_no_canvas_allowed_is_an_error_not_a_hang():
    images = [np.zeros((h, h), np.uint8) for h in (20, 30, 40)]
    groups = group_by_resolution(images, np.arange(3, dtype=np.int32))
    with pytest.raises(ValueError, match="max_shapes >= 1"):
        bucket(groups, max_shapes=0, step=16)
    assert len(bucket(groups, max_shapes=1, step=16)) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "flag, message",
    [
        (
            "--config.max_resolutions=0",
            "error: config.max_resolutions = 0: must be an integer >= 1",
        ),
        ("--config.foo=1", "error: config.foo is not a config field; the fields are: augment,"),
    ],
)
def test_command_line_refuses_before_touching_the_workdir(flag, message, tmp_path):
    workdir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "train.varres", f"--workdir={workdir}", flag],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and done.stderr.startswith(
        message
    )
    assert not workdir.exists()
