"""Splits and methods for grid-expansion tests (nothing here is ever loaded or trained)."""

from cvgl_bench import DatasetSpec, MethodSpec, SplitSpec, hookimpl


@hookimpl
def cvgl_bench_register_datasets(register):
    register(DatasetSpec(name="gw", loader=None, folder="GW"))


@hookimpl
def cvgl_bench_register_splits(register):
    for world in ("a", "b"):
        register(SplitSpec(name=f"gw_{world}_train", loader="x:y", dataset="gw", role="train"))
        register(SplitSpec(name=f"gw_{world}_test", loader="x:y", dataset="gw", train_split=f"gw_{world}_train"))
    register(SplitSpec(name="gw_drone_train", loader="x:y", dataset="gw", role="train", query_view="drone"))
    register(SplitSpec(name="gw_drone_test", loader="x:y", dataset="gw", query_view="drone",
                       train_split="gw_drone_train"))


@hookimpl
def cvgl_bench_register_methods(register):
    register(MethodSpec(name="anyview", loader="x:y"))
    register(MethodSpec(name="panoonly", loader="x:y", views=("ground", "satellite")))
