"""Scoring of one benchmarked tray: outcomes matched to objects, physical box contents."""
import pytest

from sorting_cell.cli.sim_bench import score_tray


def _obj(family, xy, box=-1):
    return {'family': family, 'position': [xy[0], xy[1], 0.01], 'box': box}


def test_perfect_tray_scores_one():
    start = {'a': _obj('pen', (0.4, 0.0)), 'b': _obj('pen', (0.5, 0.1)),
             'c': _obj('usb', (0.6, -0.1))}
    final = {'a': _obj('pen', (0, 0), 1), 'b': _obj('pen', (0, 0), 1),
             'c': _obj('usb', (0, 0), 0)}
    outcomes = [{'object_id': 'o1', 'box': 1, 'reason': 'placed', 'position': (0.41, 0.0, 0)},
                {'object_id': 'o2', 'box': 1, 'reason': 'placed', 'position': (0.5, 0.11, 0)},
                {'object_id': 'o3', 'box': 0, 'reason': 'placed', 'position': (0.6, -0.1, 0)}]
    s = score_tray(start, final, outcomes)
    assert [r['in_intended_box'] for r in s['rows']] == [True, True, True]
    assert s['nmi'] == pytest.approx(1.0) and s['purity'] == pytest.approx(1.0)


def test_misplaced_missed_and_dropped_objects_are_failures_with_reasons():
    start = {'a': _obj('pen', (0.4, 0.0)), 'b': _obj('pen', (0.5, 0.1)),
             'c': _obj('usb', (0.6, -0.1)), 'd': _obj('usb', (0.3, 0.2))}
    # a: placed as reported; b: reported placed but fell outside; c: the arm put it in the
    # wrong box; d: perception never saw it and it stayed on the table
    final = {'a': _obj('pen', (0, 0), 1), 'b': _obj('pen', (0, 0), -1),
             'c': _obj('usb', (0, 0), 1), 'd': _obj('usb', (0.3, 0.2), -1)}
    outcomes = [{'object_id': 'o1', 'box': 1, 'reason': 'placed', 'position': (0.4, 0.0, 0)},
                {'object_id': 'o2', 'box': 1, 'reason': 'placed', 'position': (0.5, 0.1, 0)},
                {'object_id': 'o3', 'box': 0, 'reason': 'placed', 'position': (0.6, -0.1, 0)}]
    s = score_tray(start, final, outcomes)
    rows = {r['object']: r for r in s['rows']}
    assert rows['a']['in_intended_box'] and rows['a']['reason'] == ''
    assert rows['b']['reason'] == 'reported placed but lies outside every box'
    assert rows['c']['reason'] == 'reported placed but lies in box 1'
    assert rows['d']['reason'].startswith('not_proposed')
    # box 1 holds a pen and a usb stick; two objects are in no box
    assert s['purity'] == pytest.approx(1 / 4)
    assert s['nmi'] < 0.5
