"""Reproduce the whole report of assignment 3A: run the experiments, then write report.md.

    python -m train.report --workdir reports/full          # one run at a time
    python -m train.report --workdir reports/full --jobs 2 # two at a time, each on its cores
    python -m train.report --workdir /tmp/report --quick   # a smoke test (CI runs it)

(How long each takes: docs/performance.md.)

The experiments are entries in configs/report.py: variants of configs/fixed.py
and configs/varres.py trained by the same code as train.fixed and train.varres,
each over several seeds. ``DIR/runs/<id>/`` holds one ordinary run workdir per
(config, seed), named by a hash of the resolved config, so a run shared by two
experiments is trained once, a finished run is reused, and an interrupted
report continues where it stopped (an interrupted run resumes from its last
checkpoint). ``DIR/report.md``, ``DIR/results.json`` and ``DIR/figures/`` are
the report. A run is known by its config alone: after changing the training
code, start a fresh DIR.
"""
