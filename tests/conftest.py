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


@pytest.fixture(scope="session")
def mnist_cache(tmp_path_factory):
    """One cache folder for the whole session, so TFDS prepares MNIST at most once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def compilation_cache(tmp_path_factory):
    """JAX's persistent compilation cache for tests that train the same tiny model many times
    (a run then costs about 2 s instead of 10 s of compiling); results are unchanged."""
    options = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs", "jax_persistent_cache_min_entry_size_bytes")
    before = {name: getattr(jax.config, name) for name in options}
    for name, value in zip(options, (str(tmp_path_factory.mktemp("jax_cache")), 0, 0)):
        jax.config.update(name, value)
    yield
    for name, value in before.items():
        jax.config.update(name, value)
