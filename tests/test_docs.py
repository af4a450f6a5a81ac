"""Every Python code block of README.md and the docs runs, so the docs cannot rot.

Blocks fenced as ```python torch need PyTorch, which is not a dependency of this project:
they are skipped where torch is not installed, and run where it is.
"""

import json
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


PERFORMANCE = (ROOT / "docs/performance.md").read_text()
BENCH_RESULTS = sorted((ROOT / "docs/bench").glob("jaxconv_bench-*.json")) + sorted(
    (ROOT / "docs/bench").glob("train_bench-*.json")
)


def test_there_are_saved_benchmark_results_of_both_commands():
    names = [path.name for path in BENCH_RESULTS]
    assert any(n.startswith("jaxconv_bench") for n in names)
    assert any(n.startswith("train_bench") for n in names)


@pytest.mark.parametrize("path", BENCH_RESULTS, ids=lambda path: path.name)
def test_performance_md_shows_each_saved_benchmark_as_its_command_renders_it(path):
    """The table is `python -m jaxconv.bench` / `train.bench --from-json PATH`, caption included."""
    from jaxconv.bench import markdown_block as convolution_tables
    from train.bench import markdown_block as training_tables

    render = convolution_tables if path.name.startswith("jaxconv_bench") else training_tables
    assert render(json.loads(path.read_text())) in PERFORMANCE, (
        f"docs/performance.md lacks the tables of {path.name}: "
        f"paste `python -m {render.__module__} --from-json docs/bench/{path.name}`"
    )


def tables_with_their_captions(text: str):
    """Each Markdown table of ``text`` with the paragraph just above it."""
    paragraphs = re.split(r"\n\s*\n", text)
    for above, paragraph in zip(paragraphs, paragraphs[1:]):
        if paragraph.startswith("|"):
            yield paragraph, above


def test_every_performance_table_names_its_command_date_and_machine():
    tables = list(tables_with_their_captions(PERFORMANCE))
    assert len(tables) >= len(BENCH_RESULTS)
    for table, caption in tables:
        assert re.search(r"`python -m [\w.]+", caption), f"no command above\n{table}"
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", caption), f"no date above\n{table}"
        assert re.search(r"AMD EPYC|Xeon|NVIDIA|H100|H200", caption), f"no machine above\n{table}"


def test_performance_md_is_read_in_five_minutes():
    assert len(PERFORMANCE.splitlines()) <= 250


def test_no_document_speaks_of_sessions():
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for path in documents:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not re.search(r"\bsessions?\b", line, re.I), f"{path.name}:{number}: {line}"
