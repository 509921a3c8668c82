"""Built-in exact search backends: ``torch`` (default) and ``faiss`` (when installed)."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..specs import SearchBackendSpec


@hookimpl
def cvgl_bench_register_search_backends(register):
    register(SearchBackendSpec(
        name="torch", loader="cvgl_bench.evaluate.search:TorchSearch",
        summary="chunked exact ranks on CPU or GPU; int8 screen with exact re-check on large CPU problems"))
    register(SearchBackendSpec(
        name="faiss", loader="cvgl_bench.evaluate.search:FaissSearch", requires=("faiss",),
        summary="faiss flat inner-product index as the screen (GPU k-NN when available), exact re-check; "
                "pip install faiss-cpu (or faiss-gpu)"))
