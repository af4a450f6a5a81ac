"""The test suite's own set-up (tests/conftest.py)."""

from pathlib import Path

from conftest import REAL_DATA_MODULES, library_test_module


def test_the_real_data_modules_are_listed():
    """pytest-xdist gives the listed modules to one worker, so MNIST is prepared once: each module
    that asks for the real data's ``mnist_cache`` must be on the list, and only those."""
    modules = [m for m in Path(__file__).parent.glob("test_*.py") if m.name != Path(__file__).name]
    reading = {module.name for module in modules if "mnist_cache" in module.read_text()}
    assert reading == REAL_DATA_MODULES


def test_library_test_modules_need_only_the_library_and_the_test_tools(tmp_path):
    """`pytest --lib` (CI's newest-JAX stage, with only `pip install .[test]`) collects exactly the
    modules that import nothing else, directly, inside a function, through a helper, a helper
    script or a `python -m` module name."""
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "__init__.py").write_text("")
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "helper.py").write_text("import numpy as np\nfrom train.data import groups\n")
    (tests / "run_script.py").write_text("import ml_collections\n")
    modules = {
        "test_library.py": "import json\nimport jax, numpy as np\nfrom hypothesis import given\n"
        "import pytest\nimport jaxconv\nfrom flax import nnx\nROWS = ['test_trainer.py', 'a.b']\n",
        "test_trainer.py": "from train import loop\n",
        "test_through_helper.py": "import helper\n",
        "test_lazy_import.py": "def test_plot():\n    import matplotlib.pyplot\n",
        "test_script.py": "import subprocess\nSCRIPT = 'run_script.py'\n",
        "test_entry.py": "COMMAND = ['python', '-m', 'train.fixed']\n",
    }
    for name, source in modules.items():
        (tests / name).write_text(source)
    library = {name for name in modules if library_test_module(tests / name)}
    assert library == {"test_library.py"}


def test_the_suite_has_library_tests_and_others():
    here = Path(__file__).parent
    assert library_test_module(here / "test_conv_grad.py")
    assert not library_test_module(here / "test_fixed.py")
