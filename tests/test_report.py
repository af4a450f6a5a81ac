"""python -m train.report --quick: the whole report machinery end to end, and its resumability."""

import json
import os

import pytest

from train.report import make_report

pytestmark = pytest.mark.skipif(
    not os.environ.get("JAXCONV_DATA_DIR"), reason="JAXCONV_DATA_DIR is unset: the report trains on MNIST and mnist-varres"
)


def test_quick_report_writes_every_section_and_figure_and_reuses_finished_runs(tmp_path, mnist_cache):
    info = make_report(tmp_path, quick=True, cache=mnist_cache)
    report = (tmp_path / "report.md").read_text()
    for question in ("Q1.", "Q2.", "Q3.", "Q4-Q6.", "Q7.", "Q8.", "Q9.", "Q10.", "Q11.", "Q12.", "Q13.", "Q14.", "Q15.", "Q16.", "Q17."):
        assert f"**{question}**" in report, question
    assert "16×383×511" in report and "16×539×959" in report  # Q10, computed
    assert "x has 8 input channels" in report  # the 8-channel image refused
    assert "29,066" in report and "29,029" in report  # Q15
    for figure in ("q8_sweep", "q9_augmentation", "q9_examples", "q16_pooling", "q17_models"):
        png = tmp_path / "figures" / f"{figure}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"figures/{figure}.png" in report
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert set(results) == {"q8", "q9", "q12", "q16", "q17"}
    assert info["runs_trained"] > 0
    # Q16's max-pooling run is also Q17's variable-resolution run: trained once
    q16_max = results["q16"]["variants"]["global max"][0]["run"]
    q17_runs = {run["run"] for candidates in results["q17"]["tuning"].values() for run in candidates.values()}
    assert q16_max in q17_runs

    # an interrupted report continues: finished runs are reused, a run without a summary is redone
    some_run = tmp_path / "runs" / q16_max
    (some_run / "summary.json").unlink()
    again = make_report(tmp_path, quick=True, cache=mnist_cache)
    assert again["runs_trained"] == 1 and again["runs_reused"] == info["runs_trained"] + info["runs_reused"] - 1
    assert (some_run / "summary.json").is_file()
