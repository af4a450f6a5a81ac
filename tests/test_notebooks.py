"""The learner's notebooks (docs/notebooks/): every solved one runs to the end, every exercise one
stops at its first check cell with the learner's message, and the committed notebooks are what
``docs/notebooks/build.py`` makes from their sources (cells compared, not outputs)."""

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "docs" / "notebooks"
SOURCES = sorted((NOTEBOOKS / "src").glob("[0-9][0-9]_*.py"))

pytest.importorskip("jupytext")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def load_build():
    spec = importlib.util.spec_from_file_location("notebook_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()


@pytest.fixture(autouse=True)
def kernel_imports_this_tree(monkeypatch):
    """The notebooks' kernels import this checkout's jaxconv, installed or not."""
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), path) if p))


def cells(nb):
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def test_there_are_notebooks_for_chapters_1_to_6():
    numbers = {source.name[:2] for source in SOURCES}
    assert {"01", "02", "03", "04", "05", "06"} <= numbers


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_notebooks_are_built_from_their_source(source):
    import nbformat

    for path, nb in build.pair(source).items():
        assert path.exists(), f"{path} is missing: run python docs/notebooks/build.py"
        committed = nbformat.read(path, as_version=4)
        assert cells(committed) == cells(nb), (
            f"{path.relative_to(ROOT)} differs from {source.relative_to(ROOT)}: "
            "run python docs/notebooks/build.py"
        )


def test_versions_split_the_markers():
    source = (
        "# %%\n"
        "def f(x):\n"
        "    # BEGIN SOLUTION\n"
        "    return 2 * x\n"
        "    # END SOLUTION\n"
        "    # BEGIN STUB\n"
        "    # return 0  # your code here\n"
        "    # END STUB\n"
        "\n"
        "# %%\n"
        "# BEGIN SOLUTION\n"
        "y = 1\n"
        "# END SOLUTION\n"
    )
    exercise, solution = build.versions(source)
    assert "return 0  # your code here" in exercise and "2 * x" not in exercise
    assert "pass  # your code here" in exercise and "y = 1" not in exercise
    assert "return 2 * x" in solution and "y = 1" in solution and "return 0" not in solution
    assert "BEGIN" not in exercise + solution


def test_unclosed_or_uncommented_markers_are_refused():
    with pytest.raises(ValueError, match="not closed"):
        build.versions("# BEGIN SOLUTION\nx = 1\n")
    with pytest.raises(ValueError, match="written as a comment"):
        build.versions("# BEGIN STUB\nx = 1\n# END STUB\n")


def test_solution_images_point_one_level_up():
    nb = build.notebook("# %% [markdown]\n# ![a](../figures/a.gif) [b](https://x/y.png)\n", True)
    assert nb.cells[0].source == "![a](../../figures/a.gif) [b](https://x/y.png)"


def run_setup_cell(monkeypatch, where):
    """The first code cell of notebook 01 where jaxconv is not installed, pip recorded."""
    import subprocess
    import sys

    setup = next(c for c in build.pair(SOURCES[0]).popitem()[1].cells if c.cell_type == "code")
    calls = []
    monkeypatch.chdir(where)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(subprocess, "run", lambda args, **kwargs: calls.append(args))
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(setup.source, {})
    return calls


def test_setup_cell_installs_the_clone_it_sits_in(monkeypatch):
    calls = run_setup_cell(monkeypatch, NOTEBOOKS / "solutions")
    assert len(calls) == 1 and calls[0][-2:] == ["-e", f"{ROOT}[docs]"]


def test_setup_cell_outside_a_clone_asks_for_the_url(monkeypatch, tmp_path):
    with pytest.raises(RuntimeError, match="set repository above to its git URL"):
        run_setup_cell(monkeypatch, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_solved_notebook_runs_to_the_end(source):
    solution = build.pair(source)[build.SOLUTIONS / f"{source.stem}.ipynb"]
    error = build.execute(solution, build.SOLUTIONS)
    assert error is None, str(error)


@pytest.mark.slow
@pytest.mark.parametrize(
    "source", [s for s in SOURCES if "BEGIN SOLUTION" in s.read_text()], ids=lambda p: p.stem
)
def test_exercise_notebook_stops_at_its_first_check(source):
    exercise = build.pair(source)[NOTEBOOKS / f"{source.stem}.ipynb"]
    first_check = next(i for i, cell in enumerate(exercise.cells) if build.is_check_cell(cell))
    error = build.execute(exercise, NOTEBOOKS)
    assert error is not None, "the exercise notebook ran to the end: a stub passes its check"
    failed = [
        (i, output)
        for i, cell in enumerate(exercise.cells)
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    assert len(failed) == 1
    index, output = failed[0]
    assert index == first_check, (index, first_check, exercise.cells[index].source)
    assert output.ename == "AssertionError"
    assert "your " in output.evalue, output.evalue
