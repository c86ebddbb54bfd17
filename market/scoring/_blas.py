"""Single-threaded BLAS for the small dense operations of scoring, in one place.

Scoring runs many small dense operations (a ~100x100 solve in a surrogate fit, a head on a
few hundred examples inside a coalition utility). BLAS threads only add synchronisation
there, badly so on busy cores (measured 8x slower scoring at 1,000 participants in
``bench/scale.py``, 100x slower surrogate fits on 2 busy cores). :meth:`Estimator.estimate`
runs every estimator inside :func:`single_blas_thread`, so callers need no limit of their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from threadpoolctl import threadpool_limits


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread inside the block (torch's own threads are not affected).

    scipy's own OpenBLAS is loaded by its first ``scipy.linalg`` import: imported here first,
    so that the limit reaches it on a process's first estimate too (a first call with two
    BLAS threads gave estimates 1.6e-6 relative away from every later call's).
    """
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS before the limit is set)

    with threadpool_limits(limits=1, user_api="blas"):
        yield
