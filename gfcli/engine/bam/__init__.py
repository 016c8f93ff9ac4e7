"""The BAM fast path: BGZF batches decoded into numpy columns by numba kernels.

Submodules import numpy and numba; import them inside command bodies only.
"""
