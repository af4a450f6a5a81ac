"""train.fixed: the MNIST network of the assignment's first table (Q7-Q9).

python -m train.fixed --workdir runs/fixed
python -m train.fixed --workdir runs/fixed-aug --config.augment=True
python -m train.fixed --workdir runs/narrow --config.fixed.channels="(8, 16, 32)"
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    # data
    config.dataset = "mnist"
    config.num_val = 10_000  # held out of the 60,000 training images (Q7), per seed
    config.max_train_examples = 0  # 0: all; smaller for quick runs and tests
    config.max_eval_examples = 0  # 0: all validation and test images
    config.download = True  # download what $JAXCONV_DATA_DIR lacks; False on offline machines
    # model: "fixed", the network of the first table, with its own fields
    config.model = "fixed"
    config.fixed = ml_collections.ConfigDict({"channels": (16, 32, 64), "image_size": 28})
    # training
    # 2 epochs at 2e-3 (cosine): the shortest schedule that reaches 99% on every seed
    # (docs/training.md, "The trainers", has the accuracies it was chosen by)
    config.num_epochs = 2
    config.batch_size = 16  # Q7
    config.learning_rate = 2e-3
    config.lr_schedule = "cosine"  # or "constant"
    config.seed = 0
    config.augment = False  # Q9
    config.augmentation = ml_collections.ConfigDict(
        {
            "rotation_degrees": 10.0,  # rotation drawn from U(-r, r)
            "shift_pixels": 2.0,  # shift along each axis from U(-s, s)
            "scale": 0.1,  # zoom factor from U(1 - z, 1 + z)
            "brightness": 0.1,  # additive delta from U(-b, b)
            "contrast": 0.2,  # contrast factor from U(1 - c, 1 + c)
        }
    )
    config.compute_dtype = (
        "float32"  # or "bfloat16": convolutions in bf16 with float32 accumulation
    )
    # speed (not results)
    config.steps_per_call = 100  # optimizer steps per jitted call (one lax.scan)
    # image pixels (examples x height x width) per forward+backward tile of a batch: the same
    # gradient, computed in cache-sized pieces of the largest number of examples that divides the
    # batch and fits (train.steps.Steps.gradients; docs/performance.md, "Batch tiles"); 0: the whole
    # batch at once, best on a GPU. 32 images of 28x28: the default batch 16 at 28x28 is one tile.
    config.tile_pixels = 32 * 28 * 28
    # small enough for every layer's patches to stay in a CPU's caches (docs/performance.md)
    config.eval_batch_size = 50
    return config
