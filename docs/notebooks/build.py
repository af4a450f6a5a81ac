"""Build the learner's notebooks from their one source each: ``python docs/notebooks/build.py``.

``src/NN_<topic>.py`` (jupytext's percent format) gives two notebooks, both executed with their
outputs kept:

* ``NN_<topic>.ipynb``, the exercises: each answer (the lines between ``# BEGIN SOLUTION`` and
  ``# END SOLUTION``) replaced by the stub after it (the lines between ``# BEGIN STUB`` and
  ``# END STUB``, written as comments in the source and uncommented here; ``pass`` where there
  is none). Executed like a learner's "Run all": it stops at the first check cell, whose
  message is kept as its output.
* ``solutions/NN_<topic>.ipynb``, the solved notebook (stubs dropped), executed to the end.

Markdown images given relative to ``docs/notebooks/`` are rewritten one level deeper for
``solutions/``. Needs jupytext, nbclient and ipykernel (``pip install -e '.[docs]'``).

    python docs/notebooks/build.py                 # every notebook
    python docs/notebooks/build.py 03 04           # those whose name starts so
    python docs/notebooks/build.py --no-execute    # cells only (what tests/test_notebooks.py
                                                   # compares with the committed notebooks)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
SOLUTIONS = HERE / "solutions"
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
TIMEOUT_S = 300

# the last line of a check cell: a call such as exercises.check_fold(fold)
CHECK_CALL = re.compile(r"^(exercises\.)?check_\w+\(\w+\)\s*$")

_MARKER = re.compile(r"^(\s*)# (BEGIN|END) (SOLUTION|STUB)\s*$")


def versions(text: str) -> tuple[str, str]:
    """The exercise and the solution text of one source, markers resolved."""
    exercise, solution = [], []
    block, indent, answer = None, "", False
    for number, line in enumerate(text.splitlines(), 1):
        marker = _MARKER.match(line)
        if marker:
            indent, edge, kind = marker.groups()
            if edge == "BEGIN":
                if block is not None:
                    raise ValueError(f"line {number}: BEGIN {kind} inside a {block} block")
                block = kind
            else:
                if block != kind:
                    raise ValueError(f"line {number}: END {kind} without BEGIN {kind}")
                block = None
                answer = kind == "SOLUTION"  # a STUB may follow right after
            continue
        if answer and block is None:  # a solution with no stub after it
            exercise.append(f"{indent}pass  # your code here")
            answer = False
        if block == "SOLUTION":
            solution.append(line)
        elif block == "STUB":
            stripped = line[len(indent) :]
            if not stripped.startswith("#"):
                raise ValueError(f"line {number}: a stub line is written as a comment: {line!r}")
            exercise.append(indent + re.sub(r"^# ?", "", stripped))
        else:
            exercise.append(line)
            solution.append(line)
    if block is not None:
        raise ValueError(f"a {block} block is not closed")
    if answer:
        exercise.append(f"{indent}pass  # your code here")
    return "\n".join(exercise) + "\n", "\n".join(solution) + "\n"


def notebook(text: str, solutions: bool = False) -> nbformat.NotebookNode:
    """The unexecuted notebook of one version's text."""
    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata = nbformat.from_dict({"kernelspec": KERNEL, "language_info": {"name": "python"}})
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict({})
        if solutions and cell.cell_type == "markdown":
            cell.source = re.sub(r"\]\((?!https?:|/|#)", "](../", cell.source)
    return nb


def with_setup_cell(text: str) -> str:
    """``text`` with its ``# SET-UP CELL`` line replaced by the one set-up cell of every notebook
    (``src/_setup_cell.py``, its docstring and cell marker left out)."""
    setup = (SOURCES / "_setup_cell.py").read_text()
    setup = setup[setup.index("# %%\n") + len("# %%\n") :]
    return re.sub(r"^# SET-UP CELL\b.*\n", lambda _: setup, text, count=1, flags=re.M)


def pair(source: Path) -> dict[Path, nbformat.NotebookNode]:
    """The two unexecuted notebooks of ``source``, by the path each is written to."""
    exercise, solution = versions(with_setup_cell(source.read_text()))
    return {
        HERE / f"{source.stem}.ipynb": notebook(exercise),
        SOLUTIONS / f"{source.stem}.ipynb": notebook(solution, solutions=True),
    }


def is_check_cell(cell) -> bool:
    lines = cell.source.strip().splitlines()
    return cell.cell_type == "code" and bool(lines) and bool(CHECK_CALL.match(lines[-1]))


def execute(nb: nbformat.NotebookNode, where: Path):
    """Run ``nb`` in ``where`` like "Run all": stop at the first error and keep the outputs up
    to it. Returns ``None``, or the ``CellExecutionError`` it stopped at."""
    import tempfile

    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    with tempfile.TemporaryDirectory() as sockets:
        # the kernel talks over unix sockets of its own: TCP ports on localhost can be taken
        # between being chosen and bound where other kernels start at the same time
        km = KernelManager(kernel_name=KERNEL["name"], transport="ipc", ip=f"{sockets}/kernel")
        client = NotebookClient(
            nb, km=km, timeout=TIMEOUT_S, resources={"metadata": {"path": str(where)}}
        )
        try:
            client.execute()
            return None
        except CellExecutionError as err:
            error = err
    for cell in nb.cells:  # the message, not the frames (and this machine's paths) above it
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = output.traceback[-1:]
    return error


def build(prefixes=(), run: bool = True) -> list[Path]:
    written = []
    SOLUTIONS.mkdir(exist_ok=True)
    for source in sorted(SOURCES.glob("[0-9][0-9]_*.py")):
        if prefixes and not source.stem.startswith(tuple(prefixes)):
            continue
        for path, nb in pair(source).items():
            if run:
                error = execute(nb, path.parent)
                if path.parent == SOLUTIONS and error is not None:
                    raise SystemExit(f"{path.relative_to(HERE)} failed:\n{error}")
                print(
                    f"{path.relative_to(HERE)}: "
                    + ("ran to the end" if error is None else "stopped at its first check")
                )
            nbformat.write(nb, path)
            written.append(path)
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="build only the notebooks starting so")
    parser.add_argument("--no-execute", action="store_true", help="write the cells, unexecuted")
    args = parser.parse_args(argv)
    build(args.prefixes, run=not args.no_execute)


if __name__ == "__main__":
    sys.exit(main())
