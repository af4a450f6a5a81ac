import ast
import contextlib
import fcntl
import os
import re
import sys
from pathlib import Path

import jax
import pytest

# Silent broadcasting between arrays of different ranks is a bug in this codebase.
jax.config.update("jax_numpy_rank_promotion", "raise")
# The tolerances are float32's. GPUs and TPUs compute default-precision float32 products in
# TF32 or bf16 passes (errors ~1e-3); on a CPU this changes nothing.
jax.config.update("jax_default_matmul_precision", "highest")


@pytest.fixture
def x64():
    """Run the test with 64-bit floats (gradient checks need them)."""
    with jax.enable_x64(True):
        yield


@contextlib.contextmanager
def exclusive(lock_file: Path):
    """Hold an exclusive lock on ``lock_file`` (created) for the ``with`` block: another process
    or thread asking for it waits until the block ends."""
    with open(lock_file, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def shared_mnist_cache(run_dir: Path, data: str | None) -> Path:
    """``run_dir/mnist_cache``, with MNIST prepared in it from ``data`` (the data folder) if it
    has ``mnist/``, once for all who ask with the same ``run_dir``: the first prepares it while
    holding a lock, the others wait for the lock, then read the prepared arrays. (TFDS prepares
    into a temporary folder that it renames at the end: two at once in one cache fail.)"""
    from train.data.mnist import load_mnist  # not at the top: `pytest --lib` runs without train

    cache = run_dir / "mnist_cache"
    cache.mkdir(exist_ok=True)
    if data and (Path(data) / "mnist").is_dir():
        with exclusive(run_dir / "mnist_cache.lock"):
            load_mnist(cache, Path(data), download=False)
    return cache


@pytest.fixture(scope="session")
def mnist_cache(tmp_path_factory):
    """The cache folder of the tests that read the real data, MNIST prepared in it once per test
    run: pytest-xdist's workers share it (the parent of their base temporary folders is the
    run's), as in pytest-xdist's recipe for a session fixture that must run once."""
    run_dir = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_dir = run_dir.parent
    return shared_mnist_cache(run_dir, os.environ.get("JAXCONV_DATA_DIR"))


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
    """One JAX persistent compilation cache for the session (each pytest-xdist worker's): this
    process and the trainers it starts as subprocesses (they read the JAX_* variables). Every test
    trains or differentiates the same few networks, so each is compiled once per session instead
    of once per test; results are unchanged (the cache is keyed by the compiled program)."""
    if os.environ.get("JAXCONV_TEST_NO_COMPILATION_CACHE"):  # to measure what the cache saves
        yield
        return
    folder = str(tmp_path_factory.mktemp("jax_cache"))
    settings = {
        "jax_compilation_cache_dir": folder,
        "jax_persistent_cache_min_compile_time_secs": 0,
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    before_config = {name: getattr(jax.config, name) for name in settings}
    before_env = {name.upper(): os.environ.get(name.upper()) for name in settings}
    for name, value in settings.items():
        jax.config.update(name, value)
        os.environ[name.upper()] = str(value)
    yield
    for name, value in before_config.items():
        jax.config.update(name, value)
    for name, value in before_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# What a library test may import: jaxconv, the library's dependencies (pyproject.toml's
# ``dependencies``), the test extra's tools and the standard library.
LIBRARY_TEST_IMPORTS = frozenset(
    {"jaxconv", "jax", "jaxlib", "flax", "numpy", "pytest", "hypothesis", "xdist"}
)


def imported_modules(path: Path, seen: frozenset = frozenset()) -> set:
    """The top-level modules a test file needs: those it imports anywhere in it (inside functions
    too), those it runs as ``"package.module"`` strings (``python -m train.fixed``), and those of
    the helpers beside it (``synthetic``, ``conv_cases``, a ``"data_parallel_run.py"`` script)
    that it imports or names, followed through."""
    names, helpers = set(), set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            script = path.parent / node.value
            if script.suffix == ".py" and not script.name.startswith("test_") and script.is_file():
                helpers.add(node.value[: -len(".py")])
            elif re.fullmatch(r"[A-Za-z_]\w*(\.\w+)+", node.value):
                package = node.value.split(".")[0]
                if (path.parent.parent / package / "__init__.py").is_file():
                    names.add(package)
    helpers |= {name for name in names if (path.parent / f"{name}.py").is_file()}
    for helper in sorted(helpers - seen - {path.stem}):
        names |= imported_modules(path.parent / f"{helper}.py", seen | helpers | {path.stem})
    return {name for name in names if not (path.parent / f"{name}.py").is_file()}


def library_test_module(path: Path) -> bool:
    """A library test module needs only jaxconv, its dependencies and the test tools: nothing
    else (train, configs, TensorFlow, matplotlib, torch...), directly or through a helper."""
    allowed = LIBRARY_TEST_IMPORTS | set(sys.stdlib_module_names)
    return imported_modules(path) <= allowed


def pytest_addoption(parser):
    parser.addoption(
        "--lib",
        action="store_true",
        help="collect only the library's tests (marked lib), which need nothing beyond jaxconv, "
        "jax, flax, numpy and the test tools: for an environment made by "
        "`pip install '.[flax,test]'`",
    )


def pytest_ignore_collect(collection_path, config):
    """With ``--lib``, the other test modules are not even imported (their imports would fail)."""
    if (
        config.getoption("lib")
        and collection_path.name.startswith("test_")
        and collection_path.suffix == ".py"
    ):
        return not library_test_module(collection_path) or None
    return None


def pytest_collection_modifyitems(config, items):
    """Mark every test of a library module ``lib`` (``pytest -m lib`` selects them anywhere)."""
    verdicts = {}
    for item in items:
        module = item.path
        if module not in verdicts:
            verdicts[module] = library_test_module(module)
        if verdicts[module]:
            item.add_marker(pytest.mark.lib)
