"""Every Python code block of README.md and docs/guide.md runs, so the docs cannot rot."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = [
    pytest.param(code, id=f"{path}:{number}")
    for path in ("README.md", "docs/guide.md")
    for number, code in enumerate(re.findall(r"```python\n(.*?)```", (ROOT / path).read_text(), re.S))
]


def test_the_docs_have_code_blocks():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("code", BLOCKS)
def test_code_block_runs(code):
    exec(compile(code, "<docs>", "exec"), {})
