"""Stale Fast DDS segments: a segment is stale when nobody holds the lock on its ``_el``
file (Fast DDS's owner holds it for the segment's life; the kernel drops it at death)."""
import fcntl

from sorting_cell.shm import remove_stale_segments, stale_segments


def test_only_segments_whose_owner_is_gone_are_removed(tmp_path):
    for name in ('fastrtps_alive', 'fastrtps_alive_el', 'fastrtps_dead', 'fastrtps_dead_el',
                 'fastrtps_nolock', 'fastrtps_port7001', 'fastrtps_port7001_el', 'sem.other',
                 'someone_else'):
        (tmp_path / name).write_bytes(b'x')
    with open(tmp_path / 'fastrtps_alive_el', 'rb') as owner, \
            open(tmp_path / 'fastrtps_port7001_el', 'rb') as port_user:
        fcntl.flock(owner, fcntl.LOCK_EX)          # the segment's owner still runs
        fcntl.flock(port_user, fcntl.LOCK_SH)      # the port is in use
        assert stale_segments(shm=tmp_path) == ['fastrtps_dead', 'fastrtps_nolock']
        assert remove_stale_segments(shm=tmp_path) == ['fastrtps_dead', 'fastrtps_nolock']
        (tmp_path / 'fastrtps_port7002').write_bytes(b'x')     # a port without a lock file
        left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ['fastrtps_alive', 'fastrtps_alive_el', 'fastrtps_port7001',
                    'fastrtps_port7001_el', 'fastrtps_port7002', 'sem.other', 'someone_else']
    # once the owner is gone, its segment is stale too; ports are never removed
    assert remove_stale_segments(shm=tmp_path) == ['fastrtps_alive']
    assert (tmp_path / 'fastrtps_port7002').exists()
