"""python -m train.report: parse the flags and build the report (train/report/build.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from absl import logging as absl_logging

import train.report
from train.errors import exit_on_user_error
from train.report.build import make_report
from train.run import stop_on_sigterm


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train.report",
        description=train.report.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--workdir",
        required=True,
        type=Path,
        help="the report folder (runs are kept in DIR/runs and reused)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: a few batches, one seed, one epoch; its numbers mean nothing",
    )
    parser.add_argument(
        "--cache_dir", help="cache folder (default: $JAXCONV_CACHE_DIR or ~/.cache/jaxconv)"
    )
    parser.add_argument("--data_dir", help="read-only data folder (default: $JAXCONV_DATA_DIR)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="train this many runs at once, each process on its share of the CPU cores "
        "(default: 1; why 2 on a 2-core CPU: docs/performance.md, 'Several runs at once')",
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Build the report. A user error ends in one line on stderr, exit status 2; Ctrl-C or SIGTERM
    in one line saying what it interrupted, exit status 130 or 143 (the same command continues)."""
    args = parse_args(argv)
    absl_logging.set_verbosity(absl_logging.WARNING)
    stop_on_sigterm()
    with exit_on_user_error():  # make_report's Interrupted says what it interrupted
        info = make_report(args.workdir, args.quick, args.cache_dir, args.data_dir, args.jobs)
    counts = f"{info['runs_trained']} runs trained, {info['runs_reused']} reused"
    print(f"wrote {args.workdir / 'report.md'}: {counts}, {info['seconds']:.0f} s")


if __name__ == "__main__":
    main()
