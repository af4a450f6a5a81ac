"""Every Python code block of README.md and the docs runs, so the docs cannot rot.

Blocks fenced as ```python torch need PyTorch, which is not a dependency of this project:
they are skipped where torch is not installed, and run where it is.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "docs/guide.md", "docs/training.md", "docs/performance.md")
BLOCKS = [
    pytest.param(code, bool(torch), id=f"{path}:{number}")
    for path in DOCS
    for number, (torch, code) in enumerate(
        re.findall(r"```python( torch)?\n(.*?)```", (ROOT / path).read_text(), re.S)
    )
]


def test_the_docs_have_code_blocks():
    assert len(BLOCKS) >= 10


def test_the_guide_has_its_pytorch_block():
    assert sum(needs_torch for _, needs_torch in (p.values for p in BLOCKS)) == 1


@pytest.mark.slow
@pytest.mark.parametrize("code, needs_torch", BLOCKS)
def test_code_block_runs(code, needs_torch):
    if needs_torch:
        pytest.importorskip("torch", reason="a ```python torch block: PyTorch is not installed")
    exec(compile(code, "<docs>", "exec"), {})
