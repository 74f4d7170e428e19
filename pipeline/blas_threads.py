"""One BLAS thread for code made of many small matrix operations.

OpenBLAS starts as many threads as cores and splits every product and factorisation
between them. For the small ones of the shared-noise vectors of optimal extraction
(:attr:`pipeline.spectroscopy.profile_covariance.ColumnCovariance.shared_noise`: QR and
products of a few hundred rows, dozens of times per spectrum) the threads wait on each
other more than they work: on a 2-core machine beside other work, combine+resample of
one 2x2 spectrum took 0.19 s with two threads against 0.04 s with one
(``benchmarks/bench_spectroscopy.py``). The service's dask workers already run with
one thread (``distributed`` sets ``OPENBLAS_NUM_THREADS=1``); ``gsp reduce``,
notebooks and tests run in processes that do not.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager

from threadpoolctl import ThreadpoolController


@functools.cache
def _controller() -> ThreadpoolController:
    # finding the loaded BLAS libraries takes milliseconds: once per process, after
    # numpy (imported by every caller) has loaded its BLAS
    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager:
    """A context in which BLAS and LAPACK calls use one thread.

    Returns
    -------
    contextlib.AbstractContextManager
        Restores the previous thread counts on exit.
    """
    return _controller().limit(limits=1, user_api="blas")
