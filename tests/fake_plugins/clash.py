"""Registers a method name that tests.fake_plugins.good also registers, plus one more."""

from cvgl_bench import MethodSpec, hookimpl


@hookimpl
def cvgl_bench_register_methods(register):
    register(MethodSpec(name="clash-only", loader="x:y"))
    register(MethodSpec(name="toy", loader="x:y"))
