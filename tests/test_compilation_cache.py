"""The trainers' persistent compilation cache: where it goes, and when it stays out of the way."""

import jax
import pytest

from train.compilation_cache import use_compilation_cache


@pytest.fixture
def no_configured_cache(monkeypatch):
    """Clear the test session's own cache (conftest) for one test, restoring it after."""
    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    before = {name: getattr(jax.config, name) for name in names}
    jax.config.update("jax_compilation_cache_dir", None)
    monkeypatch.delenv("JAXCONV_COMPILATION_CACHE", raising=False)
    yield
    for name, value in before.items():
        jax.config.update(name, value)


def test_cache_goes_under_the_cache_folder(tmp_path, no_configured_cache):
    assert use_compilation_cache(tmp_path) == tmp_path / "xla"
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "xla")


def test_a_cache_configured_through_jax_is_kept(tmp_path, no_configured_cache):
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))
    assert use_compilation_cache(tmp_path) == tmp_path / "mine"
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "mine")


def test_cache_can_be_turned_off(tmp_path, no_configured_cache, monkeypatch):
    monkeypatch.setenv("JAXCONV_COMPILATION_CACHE", "0")
    assert use_compilation_cache(tmp_path) is None
    assert jax.config.jax_compilation_cache_dir is None
