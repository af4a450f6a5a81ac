"""Every notebook's first code cell, put there by docs/notebooks/build.py where a source says
``# SET-UP CELL``: opened alone (in Colab), a notebook must install the project itself."""

# %%
# Set-up: installs jaxconv where it is missing (Colab, a fresh kernel); elsewhere it does nothing.
import importlib.util
import subprocess
import sys
from pathlib import Path

if importlib.util.find_spec("jaxconv") is None:
    # In Colab, put the repository's git URL here, e.g. "https://github.com/<owner>/jaxconv":
    repository = ""
    here = Path.cwd()
    clones = [
        d
        for d in (here, *here.parents, here / "jaxconv")
        if (d / "jaxconv" / "exercises.py").is_file()
    ]
    if clones:  # a clone this notebook sits in: install it as the README says
        source = ["-e", f"{clones[0]}[docs]"]
        sys.path.insert(0, str(clones[0]))  # importable now, without restarting the kernel
    elif repository:
        source = [f"jaxconv[docs] @ git+{repository}"]
    else:
        raise RuntimeError("jaxconv is missing: set repository above to its git URL")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *source], check=True)
