"""Readers of the official on-disk layouts (CVUSA, CVACT, VIGOR, University-1652).

Each module turns a dataset folder into :mod:`cvgl_bench.data.structures` objects and raises
:class:`cvgl_bench.errors.DataError` naming the file (and line) for any malformed input. The
modules are the split readers that the built-in dataset plugins register; they never assume
the official sizes (only ``cvgl-bench data check`` compares counts), so the synthetic twins
written in the same formats load through exactly the same code.
"""
