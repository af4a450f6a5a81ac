"""The report's statistics: mean ± sample std over seeds and the paired comparison."""

import math
import time

import pytest

from train.report.stats import best_by_mean, compare, pct, verdict


def runs(accuracies, key="test_accuracy"):
    return [{"seed": seed, "summary": {key: a}} for seed, a in enumerate(accuracies)]


def test_pct_is_mean_and_sample_std_in_percent():
    assert pct(runs([0.98, 0.99, 1.00])) == "99.00 ± 1.00"  # std with ddof=1
    assert pct(runs([0.9912])) == "99.12"


def test_compare_pairs_by_seed_and_matches_the_paired_t_test():
    a, b = runs([0.990, 0.992, 0.991]), runs([0.985, 0.986, 0.988])
    result = compare(a, b, "test_accuracy")
    assert result["diffs"] == pytest.approx([0.005, 0.006, 0.003])
    # t = mean / (std / sqrt(n)) of the differences, 2 degrees of freedom
    t = 0.004667 / (0.001528 / math.sqrt(3))
    assert t == pytest.approx(5.29, abs=0.01)
    assert result["p"] == pytest.approx(0.0339, abs=0.001) and result["exceeds_noise"]
    assert "exceeds seed-to-seed noise" in verdict(result, "a", "b")


def test_compare_calls_a_small_difference_with_a_large_spread_noise():
    result = compare(runs([0.990, 0.985, 0.992]), runs([0.988, 0.989, 0.987]), "test_accuracy")
    assert result["p"] > 0.05 and not result["exceeds_noise"]
    assert "within seed-to-seed noise" in verdict(result, "a", "b")


def test_compare_refuses_to_test_without_spread_or_with_one_seed():
    same_diff = compare(
        runs([0.5, 0.75, 0.25]), runs([0.25, 0.5, 0.0]), "test_accuracy"
    )  # exact in binary
    assert same_diff["p"] is None and same_diff["exceeds_noise"] is None
    assert "untested" in verdict(same_diff, "a", "b")
    one_seed = compare(runs([0.99]), runs([0.98]), "test_accuracy")
    assert one_seed["p"] is None and "one seed only" in verdict(one_seed, "a", "b")


def test_best_by_mean_picks_the_highest_mean_not_the_highest_single_run():
    variants = {"steady": runs([0.98, 0.98, 0.98]), "lucky": runs([0.99, 0.95, 0.95])}
    assert best_by_mean(variants, "test_accuracy") == "steady"


def test_build_time_counts_an_interrupted_call_up_to_its_last_finished_run(tmp_path):
    from train.report.build import CallLog
    from train.report.render import build_time

    class Counts:  # what CallLog reads of a Runner
        trained, reused = 0, 0

    killed, whole = CallLog(tmp_path), CallLog(tmp_path)
    killed.call, whole.call = "killed", "whole"  # two calls, as two processes would name them
    for seconds, trained in ((60.0, 1), (120.0, 2)):  # killed after its second run
        killed.start = whole.start = time.perf_counter() - seconds
        Counts.trained = trained
        killed.write(Counts)
    Counts.trained = 3
    whole.start = time.perf_counter() - 300.0
    whole.write(Counts, finished=True)
    calls = whole.calls()
    assert [c["call"] for c in calls] == ["killed", "whole"]
    assert [c["runs_trained"] for c in calls] == [2, 3]
    text = build_time(calls)
    assert text.startswith("Building it trained 5 runs in 7 minutes of wall time (2 call(s)")
    assert "1 of them interrupted, each counted up to its last finished run" in text
    assert "at a time" not in text  # one job: a run's time is on all the cores


def test_build_time_says_which_runs_shared_the_cores(tmp_path):
    import json

    from train.report.build import CallLog
    from train.report.render import build_time

    class Counts:  # what CallLog reads of a Runner
        trained, reused = 3, 0

    first = {"call": "first", "runs_trained": 2, "runs_reused": 0, "seconds": 60.0}
    (tmp_path / "calls.jsonl").write_text(json.dumps(first | {"finished": True, "jobs": 1}) + "\n")
    CallLog(tmp_path).write(Counts, finished=True)  # one job, 3 runs
    assert "at a time" not in build_time(CallLog(tmp_path).calls())
    two = CallLog(tmp_path, jobs=2)
    two.call = "two"
    Counts.trained = 4  # logged as asked (--jobs 2), even if the runner later fell back to one
    two.write(Counts, finished=True)
    assert two.calls()[-1]["jobs"] == 2
    assert "4 of its 9 runs were trained 2 at a time (--jobs)" in build_time(two.calls())
    reuse = CallLog(tmp_path, jobs=4)  # a later call that trains nothing says nothing of its jobs
    reuse.call = "reuse"
    Counts.trained = 0
    reuse.write(Counts, finished=True)
    text = build_time(reuse.calls())
    assert "4 of its 9 runs were trained 2 at a time" in text and "up to 4" not in text


def test_build_time_says_when_all_runs_shared_the_cores(tmp_path):
    from train.report.build import CallLog
    from train.report.render import build_time

    class Counts:
        trained, reused = 5, 0

    CallLog(tmp_path, jobs=2).write(Counts, finished=True)
    assert "Its runs were trained 2 at a time (--jobs)" in build_time(CallLog(tmp_path).calls())
