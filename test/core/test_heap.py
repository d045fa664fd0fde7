"""sorting_cell.heap: glibc's arena limit and trim (what keeps the sim node flat per reset)."""
import platform

import pytest

from sorting_cell import heap


def test_limit_arenas_refuses_zero():
    with pytest.raises(ValueError, match='at least 1'):
        heap.limit_arenas(0)


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='glibc only')
def test_glibc_takes_the_limit():
    assert heap.limit_arenas(8) is True
