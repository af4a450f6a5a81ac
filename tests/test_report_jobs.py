"""train.report --jobs: how the cores are dealt out (the runs it trains: tests/test_report.py)."""

import pytest

from train.errors import ConfigError
from train.report.jobs import core_shares


def test_core_shares_deal_every_process_its_own_cores():
    assert core_shares([0, 1], 2) == [[0], [1]]
    assert core_shares([0, 1, 2, 3], 2) == [[0, 2], [1, 3]]
    assert core_shares([0, 1, 2], 1) == [[0, 1, 2]]
    for bad in (0, 3, 1.5):
        with pytest.raises(ConfigError, match="--jobs must be an integer from 1 to the 2 cores"):
            core_shares([0, 1], bad)
