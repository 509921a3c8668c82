"""Sample4Geo as a cvgl-bench method plugin (registered through the ``cvgl_bench`` entry point)."""

__version__ = "0.1.0"
