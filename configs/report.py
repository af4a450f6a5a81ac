"""The experiments of train.report: each one a set of variants of configs/fixed.py or
configs/varres.py (the same code as python -m train.fixed / train.varres), over seeds.

A variant is (label, base config name, overrides). Runs whose resolved configs
are identical are trained once and shared between experiments (Q16's max
pooling run is also Q17's variable-resolution run).
"""

from __future__ import annotations

import dataclasses

from configs.varres import DEEP_CHANNELS


@dataclasses.dataclass(frozen=True)
class Variant:
    label: str
    base: str  # "fixed" or "varres": configs/<base>.py
    overrides: tuple = ()  # ((field, value), ...); a field may be dotted: "varres.channels"
    model: str = ""  # in a tuned experiment: the model this variant is one setting of


@dataclasses.dataclass(frozen=True)
class Experiment:
    key: str  # "q8": the question of the assignment it answers
    variants: tuple
    # Q17: every variant is first trained with the first seed only; per model, the variant with
    # the best validation accuracy is then trained with all seeds and compared on the test set
    tune_on_validation: bool = False


def get_experiments(quick: bool = False) -> list[Experiment]:
    lrs = (1e-3, 3e-3) if quick else (1e-4, 3e-4, 1e-3, 3e-3)
    batches = (16, 32) if quick else (8, 16, 32)
    sweep = tuple(
        Variant(f"lr {lr:g}, batch {b}", "fixed", (("learning_rate", lr), ("batch_size", b)))
        for lr in lrs
        for b in batches
    )
    q9_epochs = 5  # (--quick trains one epoch whatever the variant says)
    return [
        Experiment("q8", sweep),  # learning rate x batch size, MNIST, the fixed network
        Experiment(  # data augmentation, MNIST, compared on the test set
            "q9",
            (
                Variant("baseline", "fixed", (("num_epochs", q9_epochs),)),
                Variant("augmented", "fixed", (("num_epochs", q9_epochs), ("augment", True))),
            ),
        ),
        Experiment(  # mnist-varres resized to 28x28, the fixed network
            "q12",
            (
                Variant(
                    "fixed, resized to 28", "varres", (("model", "fixed"), ("fixed.image_size", 28))
                ),
            ),
        ),
        Experiment(  # global max against global mean pooling, mnist-varres, compared on validation
            "q16",
            (
                Variant("global max", "varres", (("pooling", "max"),)),
                Variant("global mean", "varres", (("pooling", "mean"),)),
            ),
        ),
    ]


def q17_experiment(pooling: str, quick: bool = False) -> Experiment:
    """Q17, with the global pooling Q16 chose ("max" or "mean") for the variable-resolution
    networks."""
    tuning_lrs = (2e-3,) if quick else (1e-3, 2e-3, 3e-3)
    models = (
        ("fixed 28x28", (("model", "fixed"), ("fixed.image_size", 28))),
        ("fixed 64x64", (("model", "fixed"), ("fixed.image_size", 64))),
        (f"variable, global {pooling}", (("pooling", pooling),)),
        (
            f"variable deep, global {pooling}",
            (("pooling", pooling), ("varres.channels", DEEP_CHANNELS)),
        ),
    )
    # tuned fixed resolution (28x28, 64x64) against tuned variable resolution, on test
    return Experiment(
        "q17",
        tuple(
            Variant(
                f"{name}, lr {lr:g}", "varres", overrides + (("learning_rate", lr),), model=name
            )
            for name, overrides in models
            for lr in tuning_lrs
        ),
        tune_on_validation=True,
    )


def quick_overrides() -> dict:
    """--quick: a few batches of data, one epoch, so CI runs the whole report machinery in a minute
    or two; the variable-resolution runs pad every image onto one canvas (one compiled step, not one
    per resolution: compiling is nearly all of a quick run's time). Its numbers mean nothing."""
    sizes = {"max_train_examples": 192, "max_eval_examples": 96, "eval_batch_size": 48}
    return sizes | {"num_epochs": 1, "max_resolutions": 1}


SEEDS = (0, 1, 2)
QUICK_SEEDS = (0,)
