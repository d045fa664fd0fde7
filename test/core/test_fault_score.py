"""Lost and duplicated objects of a fault case, from ground truth and log rows."""
from sorting_cell.faults import score_case


def _obj(x, y, z=0.02, box=-1):
    return {'position': [x, y, z], 'box': box, 'family': 'pen'}


START = {'a': _obj(0.4, 0.0), 'b': _obj(0.5, 0.0), 'c': _obj(0.6, 0.0)}


def _row(sid, x, state='done', box=0):
    return {'sort_id': sid, 'object_id': f'o{x}', 'box': box, 'state': state,
            'position': [x, 0.0, 0.02]}


def test_placed_and_resumable_objects_are_not_lost():
    final = {'a': _obj(0.0, 0.6, 0.05, box=0), 'b': _obj(0.5, 0.0), 'c': _obj(0.6, 0.0)}
    s = score_case(START, [final], final, [_row('s1', 0.4), _row('s1', 0.5, 'pending')])
    assert (s.lost, s.duplicated, s.placed, s.on_tray) == (0, 0, 1, 2)


def test_an_object_off_the_tray_or_claimed_placed_on_it_is_lost():
    final = {'a': _obj(0.4, 0.0, -0.4), 'b': _obj(0.5, 0.0), 'c': _obj(0.6, 0.0, 0.3)}
    # a fell to the floor, c is held up in the gripper, b is still on the tray but the log
    # says it was placed ('presumed placed'): nothing would ever pick it again
    s = score_case(START, [], final, [_row('s1', 0.5)])
    assert s.lost == 3 and s.duplicated == 0
    assert {o['object'] for o in s.lost_objects} == {'a', 'b', 'c'}
    assert 'logged placed' in next(o['why'] for o in s.lost_objects if o['object'] == 'b')


def test_an_object_placed_twice_or_into_two_boxes_is_duplicated():
    in0 = {**START, 'a': _obj(0, 0.6, 0.05, box=0)}
    out = {**START, 'a': _obj(0.3, 0.1, 0.2)}
    in1 = {**START, 'a': _obj(0, -0.6, 0.05, box=1)}
    s = score_case(START, [in0, out, in1], in1, [])
    assert s.duplicated == 1 and s.duplicated_objects[0]['box_entries'] == 2
    # or two sorts each logged it placed
    s = score_case(START, [in0], in0, [_row('s1', 0.4), _row('s2', 0.4)])
    assert s.duplicated == 1 and s.duplicated_objects[0]['logged_done_in'] == ['s1', 's2']
    assert s.lost == 0
