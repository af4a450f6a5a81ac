"""python -m train.guide_figures [--out DIR] [--workdir RUN] [--varres_workdir RUN] [--quick]

Regenerates every figure of docs/guide.md. Chapter 7 uses the given train.fixed
(``--workdir``) and train.varres (``--varres_workdir``) runs, or trains short
ones first into a temporary folder; ``--quick`` skips chapter 7 and draws the
digit of chapter 6 without MNIST (seconds; the tests run it).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from train.guide_figures import features, mechanics


def mnist_digit(cache: str | None, data: str | None) -> np.ndarray:
    """The first MNIST test image (a 7), uint8 (28, 28)."""
    from train.data.cache import cache_dir, data_dir
    from train.data.mnist import load_mnist

    return load_mnist(cache_dir(cache), data_dir(data))["test_images"][0, :, :, 0]


def draw_all(out: Path, digit: np.ndarray) -> dict:
    """Chapters 1-6; each entry holds the arrays its figure shows."""
    out.mkdir(parents=True, exist_ok=True)
    return {
        "output_windows": mechanics.draw_output_windows(out),
        "unfold_grid": mechanics.draw_unfold_grid(out),
        "overlap_counts": mechanics.draw_overlap_counts(out),
        "strided_input_grad": mechanics.draw_strided_input_grad(out),
        "computation_graph": mechanics.draw_computation_graph(out),
        "report_backward": mechanics.draw_report_backward(out),
        "taps": features.draw_taps(out),
        "group_kernels": features.draw_group_kernels(out),
        "transposed_views": features.draw_transposed_views(out),
        "upsampled_digit": features.draw_upsampled_digit(out, digit),
    }


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
    parser.add_argument("--cache_dir", help="as the trainers' --cache_dir")
    parser.add_argument("--data_dir", help="as the trainers' --data_dir")
    args = parser.parse_args(argv)
    if args.quick:
        return draw_all(args.out, features.synthetic_digit())
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
    print(f"figures in {args.out}: " + ", ".join(sorted(p.name for p in args.out.glob("*.png"))))
    return results


if __name__ == "__main__":
    main()
