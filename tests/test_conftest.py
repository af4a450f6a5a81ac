"""The test suite's own set-up (tests/conftest.py)."""

from pathlib import Path

from conftest import REAL_DATA_MODULES


def test_the_real_data_modules_are_listed():
    """pytest-xdist gives the listed modules to one worker, so MNIST is prepared once: each module
    that asks for the real data's ``mnist_cache`` must be on the list, and only those."""
    modules = [m for m in Path(__file__).parent.glob("test_*.py") if m.name != Path(__file__).name]
    reading = {module.name for module in modules if "mnist_cache" in module.read_text()}
    assert reading == REAL_DATA_MODULES
