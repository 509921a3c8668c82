"""cvgl-bench: a plugin-based benchmark for cross-view geo-localization.

Public API for plugin authors: :data:`hookimpl`, the spec classes, and :class:`Method`.
"""

__version__ = "0.1.0"

from .hookspecs import hookimpl  # noqa: E402
from .specs import (  # noqa: E402
    SPEC_API_VERSION,
    DatasetSpec,
    MethodSpec,
    MetricSpec,
    SearchBackendSpec,
    SplitSpec,
)

__all__ = [
    "__version__",
    "hookimpl",
    "SPEC_API_VERSION",
    "DatasetSpec",
    "MethodSpec",
    "MetricSpec",
    "SearchBackendSpec",
    "SplitSpec",
]
