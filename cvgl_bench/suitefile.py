"""Reading suite files (``benchmarks/*.yaml``), shared by the grid and the leaderboard."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import ConfigError


def read_suite_yaml(path: str | os.PathLike) -> Any:
    """The parsed YAML of suite file ``path``; unreadable or invalid YAML is a one-line ConfigError."""
    import yaml

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read suite {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"suite {path} is not UTF-8 text; a suite is a YAML file (see benchmarks/synth.yaml)") \
            from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"suite {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
