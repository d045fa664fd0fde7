"""The fault matrix's quick cases as system tests, on one shared simulated cell.

The same registry ``sorting-cell bench faults`` runs (``sorting_cell.nodes.fault_matrix``):
real node processes on DDS (sim, cell_frames, proposals, clustering, sorter), a real
SIGKILL, a real cancel; lost and duplicated objects counted from the sim's ground truth and
the sort log. The slow cases (three trays, the disk cases, each node killed and hung...) run
in the bench only.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'nodes'))
from rosproc import domain_for  # noqa: E402

from sorting_cell.faults import Outcome  # noqa: E402
from sorting_cell.nodes.fault_matrix import (CASES, CellOptions, FaultCell,  # noqa: E402
                                             run_case)

QUICK = [name for name, case in CASES.items() if case.quick]


@pytest.fixture(scope='module')
def cell(tmp_path_factory):
    c = FaultCell(tmp_path_factory.mktemp('faults'), CellOptions(boxes=2, n_objects=3),
                  domain=domain_for(__name__))
    try:
        c.up()
        yield c
    finally:
        c.close()


def test_the_quick_cases_cover_the_issue_rows():
    assert {'sorter_killed_then_plain_goal', 'more_boxes_than_the_cell',
            'num_boxes_minus_one', 'cancel_during_pick', 'arm_controller_off_at_goal'} <= set(QUICK)


@pytest.mark.parametrize('name', QUICK)
def test_fault_case_loses_nothing_and_reports_in_time(cell, name):
    row = run_case(cell, CASES[name])
    print(row)
    if not row['ok']:
        print(cell.log_tails())
    assert row['outcome'] in row['expected'], row
    assert row['outcome'] != Outcome.ERROR.value, row
    assert (row['lost'], row['duplicated']) == (0, 0), row
    assert row['seconds_to_report'] is not None, row
    assert row['seconds_to_report'] <= row['bound_s'], row
    assert row['ok'], row
