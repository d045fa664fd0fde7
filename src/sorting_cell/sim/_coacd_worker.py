"""Run CoACD on one mesh in a child process: ``python -m sorting_cell.sim._coacd_worker IN OUT``.

CoACD 1.0.14 can abort or crash the whole process on some inputs (a C++ ``logic_error``,
a segmentation fault); isolated here, a crash costs one decomposition, not the caller.
IN holds ``vertices``, ``faces`` and the options; OUT gets ``hull0``, ``hull1``, ...
"""
import sys

import numpy as np


def main(src: str, dst: str) -> None:
    import coacd
    coacd.set_log_level('error')
    with np.load(src) as z:
        verts, faces = z['vertices'], z['faces']
        opts = {k: z[k].item() for k in z.files if k not in ('vertices', 'faces')}
    parts = coacd.run_coacd(coacd.Mesh(verts, faces), **opts)
    np.savez(dst, **{f'hull{k}': np.asarray(v, float) for k, (v, _) in enumerate(parts)})


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
