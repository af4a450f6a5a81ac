"""The test suite's own set-up (tests/conftest.py)."""

import concurrent.futures
import time
from pathlib import Path

import numpy as np
from conftest import library_test_module, shared_mnist_cache

import train.data.mnist as mnist


def test_workers_sharing_the_real_data_cache_prepare_mnist_once(tmp_path, monkeypatch):
    """pytest-xdist's workers share ``mnist_cache``: when two ask for it at once, one prepares
    MNIST while the other waits, then reads the prepared arrays (without the lock both would
    prepare, and two TFDS preparations into one folder at once fail)."""
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    arrays = {f"{s}_images": np.zeros((2, 28, 28, 1), np.uint8) for s in ("train", "test")}
    arrays |= {f"{s}_labels": np.arange(2, dtype=np.int32) for s in ("train", "test")}
    preparations = []

    def prepare(cache, data_dir, download):  # TFDS's preparation, shortened
        preparations.append(cache)
        time.sleep(0.5)  # long enough for the other worker to ask meanwhile
        return arrays

    monkeypatch.setattr(mnist, "_prepare_with_tfds", prepare)
    with concurrent.futures.ThreadPoolExecutor(2) as workers:
        caches = list(workers.map(shared_mnist_cache, [tmp_path] * 2, [str(tmp_path / "data")] * 2))
    assert caches == [tmp_path / "mnist_cache"] * 2 and len(preparations) == 1


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
