"""Built-in plugins, registered through the same hooks as third-party plugins.

The host loads them by module name, in the order of :data:`cvgl_bench.plugins.BUILTIN_PLUGINS`.
"""
