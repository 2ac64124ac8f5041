"""How many threads NumPy's BLAS may use, set at run time (what threadpoolctl does, for OpenBLAS).

The reference engine's matmuls are small; on a busy machine a multi-threaded OpenBLAS spends
its time waiting for its own threads (LeNet-5 ran 5-9x slower with 2 threads than with 1 on a
loaded 2-core machine), so `train --engine reference` uses one thread unless --threads says."""

from __future__ import annotations

import ctypes
import glob
import os

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")


def set_blas_threads(n: int) -> bool:
    """Limit the BLAS bundled with NumPy to n threads. False if it is not an OpenBLAS we can find."""
    import numpy

    folder = os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(folder, "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)             # already loaded by NumPy: the same handle
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(int(n)))
                return True
    return False
