"""Built-in plugins, registered through the same hooks as third-party plugins."""

#: Modules loaded as plugins before any entry point, in this order.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "cvgl_bench.builtin.cvusa",
    "cvgl_bench.builtin.cvact",
    "cvgl_bench.builtin.vigor",
    "cvgl_bench.builtin.university1652",
    "cvgl_bench.builtin.data_command",
    "cvgl_bench.builtin.synth",
    "cvgl_bench.builtin.metrics",
    "cvgl_bench.builtin.search",
    "cvgl_bench.builtin.score_command",
    "cvgl_bench.builtin.new_plugin_command",
)
