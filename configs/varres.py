"""train.varres: the variable-resolution network of the assignment's second table (Q14-Q17).

python -m train.varres --workdir runs/varres-max
python -m train.varres --workdir runs/varres-mean --config.pooling=mean
python -m train.varres --workdir runs/varres-deep --config.varres.channels="(16, 32, 32, 28, 28)"
# Q12:
python -m train.varres --workdir runs/resized-28 --config.model=fixed
# Q17:
python -m train.varres --workdir runs/resized-64 --config.model=fixed --config.fixed.image_size=64
"""

import ml_collections

from configs.fixed import get_config as get_fixed_config

# Q15: conv 16, conv 32, conv N + global pooling + linear N -> 10 has 29,029
# parameters at N = 81, the closest to the fixed network's 29,066
# (train.models.matching_width computes it; a test checks it).
MATCHED_N = 81
# The deeper variant: five conv+pool stages, so a 32x32 input reaches 1x1 and a
# 64x64 one 2x2 before global pooling; 29,514 parameters, within 2% of 29,066.
DEEP_CHANNELS = (16, 32, 32, 28, 28)


def get_config() -> ml_collections.ConfigDict:
    config = get_fixed_config()  # same training fields and defaults as train.fixed
    config.dataset = "mnist-varres"
    # model: "varres", or "fixed" for the Q12/Q17 baselines: the fixed network of the first
    # table (config.fixed, from configs/fixed.py) on every image resized to fixed.image_size
    config.model = "varres"
    config.varres = ml_collections.ConfigDict({"channels": (16, 32, MATCHED_N)})
    config.pooling = "max"  # Q16: the variable-resolution network's global pooling, "max" or "mean"
    config.max_resolutions = 8  # more distinct resolutions than this are bucketed onto canvases
    config.bucket_step = 16  # canvas sides are multiples of this
    config.num_epochs = 3
    # 10 batches of one resolution per jitted call (a lax.scan, as train.fixed); the chunks of all
    # resolutions interleave in a fresh random order every epoch (train/data/batching.py)
    config.steps_per_call = 10
    # evaluation batches smaller than train.fixed's 50: a 64x64 image has 5x the patches of a 28x28
    # one, and they should stay in a CPU's caches (docs/performance.md, "Start-up")
    config.eval_batch_size = 25
    return config
