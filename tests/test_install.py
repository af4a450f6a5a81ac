"""jaxconv without Flax: the convolutions import and run; the Flax layers say what to install."""

import subprocess
import sys

WITHOUT_FLAX = """
import sys
sys.modules["flax"] = None  # as if Flax were not installed: `import flax` raises ImportError
import jax.numpy as jnp
import jaxconv
assert jaxconv.conv(jnp.ones((1, 5, 5, 1)), jnp.ones((3, 3, 1, 2))).shape == (1, 3, 3, 2)
for name in ("Conv", "Conv2D", "ConvTranspose", "swap_convolutions"):
    try:
        getattr(jaxconv, name)
    except ImportError as error:
        print(error)
    else:
        raise SystemExit(f"jaxconv.{name} imported without Flax")
"""


def test_the_convolutions_need_no_flax_and_the_layers_name_the_extra():
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_FLAX], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4
    assert all("pip install 'jaxconv[flax]'" in line for line in lines), lines


def test_an_unknown_attribute_is_an_attribute_error():
    import jaxconv

    assert not hasattr(jaxconv, "conv4d")
    assert "Conv" in dir(jaxconv) and "swap_convolutions" in dir(jaxconv)
