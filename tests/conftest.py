import jax
import pytest

# Silent broadcasting between arrays of different ranks is a bug in this codebase.
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Run the test with 64-bit floats (gradient checks need them)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="session")
def mnist_cache(tmp_path_factory):
    """One cache folder for the whole session, so TFDS prepares MNIST at most once."""
    return tmp_path_factory.mktemp("cache")
