"""train.bench: the throughput measurement and the table it prints."""

import math

import jaxconv
from train.bench import jax_images_per_second, markdown
from train.models import FixedCNN


def test_jax_images_per_second_times_whole_training_calls():
    make = lambda rngs: FixedCNN(conv=jaxconv.Conv2D, rngs=rngs)  # noqa: E731
    rate = jax_images_per_second(make, batch=4, side=28, steps_per_call=2, calls=2, repeats=1)
    assert math.isfinite(rate) and rate > 0


def test_markdown_ratios_use_nnx_at_its_best_and_torch_nn_conv2d():
    row = {
        "network": "net",
        "batch": 16,
        "jaxconv": 600.0,
        "jaxconv_per_step": 500.0,
        "flax_nnx_conv": 100.0,
        "flax_nnx_conv_per_step": 400.0,
        "torch_conv2d": 480.0,
        "torch_unfold_fold": 200.0,
    }
    last_line = markdown([row]).splitlines()[-1]
    assert last_line == "| net | 16 | 600 | 500 | 100 | 400 | 480 | 200 | 1.50 | 1.25 |"


def test_markdown_leaves_out_torch_when_it_was_not_measured():
    row = {"network": "net", "batch": 16, "jaxconv": 600.0, "jaxconv_per_step": 500.0}
    row |= {"flax_nnx_conv": 100.0, "flax_nnx_conv_per_step": 400.0}
    table = markdown([row])
    assert "torch" not in table and table.splitlines()[-1].endswith("| 1.50 |")
