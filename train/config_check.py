"""Every field of configs/fixed.py and configs/varres.py checked before any work starts.

``validate(config)`` raises :class:`ConfigError` with one line naming the field,
its value and what it allows, e.g. ``config.batch_size = 0: must be an integer
>= 1``; the command line prints it and exits with status 2 before the workdir
or the data is touched. The rules of every field live here, in one table.
"""

from __future__ import annotations

import json
import math
from typing import Callable, NamedTuple

from train.errors import ConfigError

TRAINING_IMAGES = 60_000  # MNIST and mnist-varres alike: num_val must leave some for training
SMALLEST_SIDE = {"mnist": 28, "mnist-varres": 32}  # the smallest images of each dataset


class Rule(NamedTuple):
    allowed: str  # what the field may be, in words: "an integer >= 1", "one of 'max', 'mean'"
    ok: Callable[[object], bool]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def integer(low: int, high: int | None = None) -> Rule:
    words = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    return Rule(words, lambda v: _is_int(v) and v >= low and (high is None or v <= high))


def number(
    low: float, high: float | None = None, *, above: bool = False, below: bool = False
) -> Rule:
    """A finite number in [low, high]; (low, ...) with ``above``, (..., high) with ``below``."""
    words = f"a number {'>' if above else '>='} {low:g}" + (
        "" if high is None else f" and {'<' if below else '<='} {high:g}"
    )

    def ok(v):
        if not _is_number(v) or v < low or (above and v == low):
            return False
        return high is None or v < high or (v == high and not below)

    return Rule(words, ok)


def choice(*values) -> Rule:
    return Rule("one of " + ", ".join(repr(v) for v in values), lambda v: v in values)


BOOLEAN = Rule("True or False", lambda v: isinstance(v, bool))
CHANNELS = Rule(
    "a non-empty tuple of integers >= 1, e.g. (16, 32, 64)",
    lambda v: isinstance(v, (tuple, list)) and len(v) > 0 and all(_is_int(c) and c >= 1 for c in v),
)

RULES: dict[str, Rule] = {
    # configs/fixed.py (and so configs/varres.py, which starts from it)
    "dataset": choice("mnist", "mnist-varres"),
    "num_val": integer(1, TRAINING_IMAGES - 1),
    "max_train_examples": integer(0),
    "max_eval_examples": integer(0),
    "download": BOOLEAN,
    "model": choice("fixed", "varres"),
    "fixed.channels": CHANNELS,
    "fixed.image_size": integer(1),
    "num_epochs": integer(1),
    "batch_size": integer(1),
    "learning_rate": number(0, above=True),
    "lr_schedule": choice("cosine", "constant"),
    "seed": integer(0),
    "augment": BOOLEAN,
    "augmentation.rotation_degrees": number(0, 180),
    "augmentation.shift_pixels": number(0),
    "augmentation.scale": number(0, 1, below=True),
    "augmentation.brightness": number(0, 1),
    "augmentation.contrast": number(0, 1, below=True),
    "compute_dtype": choice("float32", "bfloat16"),
    "steps_per_call": integer(1),
    "tile_pixels": integer(0),
    "eval_batch_size": integer(1),
    # configs/varres.py only
    "varres.channels": CHANNELS,
    "pooling": choice("max", "mean"),
    "max_resolutions": integer(1),
    "bucket_step": integer(1),
}
VARRES_FIELDS = ("varres.channels", "pooling", "max_resolutions", "bucket_step")


def flatten(config, prefix: str = "") -> dict[str, object]:
    """{"augmentation.scale": 0.1, ...}: every leaf field of a ConfigDict (or dict), dotted."""
    fields = {}
    for name, value in config.items():
        if hasattr(value, "items"):
            fields |= flatten(value, f"{prefix}{name}.")
        else:
            fields[f"{prefix}{name}"] = value
    return fields


def unknown_field_message(name: str, known) -> str:
    return f"config.{name} is not a config field; the fields are: {', '.join(sorted(known))}"


def validate(config) -> None:
    """Raise :class:`ConfigError` (one line) for the first field that cannot work."""
    fields = flatten(config)
    for name, value in fields.items():
        if name not in RULES:
            raise ConfigError(unknown_field_message(name, [f for f in fields if f in RULES]))
        rule = RULES[name]
        if not rule.ok(value):
            raise ConfigError(f"config.{name} = {value!r}: must be {rule.allowed}")
    if fields.get("model") == "varres" and any(f not in fields for f in VARRES_FIELDS):
        raise ConfigError(
            "config.model = 'varres' needs the fields of configs/varres.py: train it with python "
            "-m train.varres"
        )
    channels, size = fields.get("fixed.channels"), fields.get("fixed.image_size")
    if (
        fields.get("model") == "fixed"
        and channels
        and size is not None
        and size < 2 ** len(channels)
    ):
        raise ConfigError(
            f"config.fixed.image_size = {size}: must be >= {2 ** len(channels)} for its "
            f"{len(channels)} 2x2 pooling stages (fixed.channels)"
        )
    if fields.get("model") == "fixed" and fields.get("dataset") == "mnist" and size != 28:
        raise ConfigError(
            f"config.fixed.image_size = {size}: must be 28 for dataset 'mnist' (its images are not "
            "resized)"
        )
    varres, smallest = fields.get("varres.channels"), SMALLEST_SIDE.get(fields.get("dataset"))
    if fields.get("model") == "varres" and varres and smallest and 2 ** len(varres) > smallest:
        raise ConfigError(
            f"config.varres.channels = {tuple(varres)}: at most {int(math.log2(smallest))} stages, "
            f"so that the {smallest}x{smallest} images of {fields['dataset']!r} survive its 2x2 "
            "poolings"
        )


def check_trainable(config, train_groups, num_devices: int) -> None:
    """The rules that need the training split (groups of images, ``sizes`` set when padded onto
    canvases) and the devices the batch is sharded over."""
    for name in ("batch_size", "eval_batch_size"):
        if config[name] % num_devices:
            raise ConfigError(
                f"config.{name} = {config[name]} must be a positive multiple of the {num_devices} "
                "devices it is sharded over"
            )
    if config.augment and any(g.sizes is not None for g in train_groups):
        # the warps turn about the canvas centre and the brightness jitter lights up the padding,
        # so an augmented padded image is no longer the augmented image: refuse rather than mislead
        raise ConfigError(
            "config.augment = True cannot train on images padded onto bucketed canvases (more than "
            f"config.max_resolutions = {config.get('max_resolutions')} resolutions): "
            "turn augmentation off or raise max_resolutions"
        )
    if all(len(g) < config.batch_size for g in train_groups):
        raise ConfigError(
            "no group of the training split has a full batch of "
            f"config.batch_size = {config.batch_size} images"
        )


# Fields that --resume may change: they do not change what training does. Changing the evaluation
# batch or the batch tile only regroups sums (the last digits of the losses may differ).
# steps_per_call is not here: chunks of steps are shuffled as units, so it changes the order of the
# batches.
RESUMABLE_CHANGES = ("eval_batch_size", "tile_pixels", "download")


def _as_json(config) -> dict:
    """:func:`flatten`, with tuples and lists made alike (as JSON) so that they compare."""
    return {name: json.loads(json.dumps(value)) for name, value in flatten(config).items()}


def changes_that_alter_the_past(saved, new, epochs_done: int) -> list[str]:
    """The fields whose change would make a resumed run differ from the uninterrupted one, each
    as 'name (old -> new)'."""
    before, after = _as_json(saved), _as_json(new)
    allowed = RESUMABLE_CHANGES
    if after.get("lr_schedule") == "constant" and after["num_epochs"] >= epochs_done:
        allowed += ("num_epochs",)  # a constant learning rate does not depend on the run's length
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return [f"{k} ({before.get(k)!r} -> {after.get(k)!r})" for k in changed if k not in allowed]


def unknown_override(fields, argv: list[str]) -> str | None:
    """The first ``--config.FIELD`` of ``argv`` that names none of ``fields``, as its message."""
    for arg in argv[1:]:
        if arg == "--":
            break
        field = arg.removeprefix("--config.").split("=", 1)[0]
        if (
            arg.startswith("--config.")
            and field not in fields
            and not any(f.startswith(field + ".") for f in fields)
        ):
            return unknown_field_message(field, fields)
    return None
