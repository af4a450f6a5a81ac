"""python -m train.guide_figures [--out DIR] [--workdir RUN] [--varres_workdir RUN] [--quick]
[--only NAME ...]

Regenerates every figure and animation of docs/guide.md. Chapter 7 uses the given
train.fixed (``--workdir``) and train.varres (``--varres_workdir``) runs, or trains
short ones first into a temporary folder; ``--quick`` skips chapter 7 and draws the
digit of chapter 6 without MNIST (seconds; the tests run it); ``--only`` draws only
the named figures of chapters 1-6 or animations (e.g. ``--only anim_forward
ch3_computation_graph``), as ``--quick`` does.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from train.guide_figures import animations, features, mechanics


def mnist_digit(cache: str | None, data: str | None) -> np.ndarray:
    """The first MNIST test image (a 7), uint8 (28, 28)."""
    from train.data.cache import cache_dir, data_dir
    from train.data.mnist import load_mnist

    return load_mnist(cache_dir(cache), data_dir(data))["test_images"][0, :, :, 0]


DRAWERS = {  # file stem -> (the key of its arrays in draw_all's result, its drawing function)
    "ch1_output_size": ("output_windows", mechanics.draw_output_windows),
    "ch2_unfold_grid": ("unfold_grid", mechanics.draw_unfold_grid),
    "ch3_overlap_counts": ("overlap_counts", mechanics.draw_overlap_counts),
    "ch3_strided_input_grad": ("strided_input_grad", mechanics.draw_strided_input_grad),
    "ch3_computation_graph": ("computation_graph", mechanics.draw_computation_graph),
    "ch4_report_backward": ("report_backward", mechanics.draw_report_backward),
    "ch5_taps": ("taps", features.draw_taps),
    "ch5_group_kernels": ("group_kernels", features.draw_group_kernels),
    "ch6_transposed_views": ("transposed_views", features.draw_transposed_views),
    "ch6_upsampled_digit": ("upsampled_digit", None),  # needs the digit
    **{stem: (stem, draw) for stem, draw in animations.ANIMATIONS.items()},
}


def draw_all(out: Path, digit: np.ndarray, only=None) -> dict:
    """Chapters 1-6 and the animations (or the ``only`` stems); each entry holds the arrays
    its figure shows."""
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for stem in only or DRAWERS:
        key, draw = DRAWERS[stem]
        if draw is None:
            results[key] = features.draw_upsampled_digit(out, digit)
        else:
            results[key] = draw(out)
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m train.guide_figures", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("--workdir", type=Path, help="a finished train.fixed run for chapter 7")
    parser.add_argument(
        "--varres_workdir", type=Path, help="a finished train.varres run for chapter 7's masks"
    )
    parser.add_argument("--quick", action="store_true", help="chapters 1-6 only, no data needed")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(DRAWERS), help="these figures/animations only"
    )
    parser.add_argument("--cache_dir", help="as the trainers' --cache_dir")
    parser.add_argument("--data_dir", help="as the trainers' --data_dir")
    args = parser.parse_args(argv)
    if args.quick or args.only:
        return draw_all(args.out, features.synthetic_digit(), args.only)
    results = draw_all(args.out, mnist_digit(args.cache_dir, args.data_dir))
    from train.guide_figures.trained import draw_trained, model_of, run_test_split, train_runs
    from train.trained import TrainedRun

    with tempfile.TemporaryDirectory(prefix="guide-runs-") as root:
        fixed, varres = args.workdir, args.varres_workdir
        if fixed is None:
            fixed, trained_varres = train_runs(Path(root), args.cache_dir)
            varres = varres or trained_varres
        fixed_run = TrainedRun(fixed)
        images, labels = run_test_split(fixed_run, args.cache_dir, args.data_dir)
        varres_model_and_image = None
        if varres is not None:
            varres_run = TrainedRun(varres)
            varres_model_and_image = (
                model_of(varres_run),
                run_test_split(varres_run, args.cache_dir, args.data_dir)[0][0],
            )
        results["trained"] = draw_trained(
            args.out, fixed_run, images, labels, varres_model_and_image
        )
    made = sorted(p.name for p in [*args.out.glob("*.png"), *args.out.glob("anim_*.gif")])
    print(f"figures in {args.out}: " + ", ".join(made))
    return results


if __name__ == "__main__":
    main()
