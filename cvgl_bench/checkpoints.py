"""Reading checkpoint files safely: a damaged or foreign file is one actionable line, never a traceback.

Used for the runner's ``model.pt`` (a plain state_dict) and the trainer's ``last.pt`` (full
training state). Files are read with ``weights_only=True``, so a pickle payload is refused and
never executed.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .fsutil import open_regular

#: How each format torch.load reads begins: a zip archive (torch.save since 1.6), a pickle of
#: protocol 2 or later (the legacy format), and a tar file (the oldest, 'ustar' at byte 257).
_TORCH_FILE_STARTS = (b"PK\x03\x04", b"\x80")


def check_torch_file(path: Path, fix: str) -> None:
    """Refuse, from its first bytes and without importing torch, a file that cannot be a torch
    checkpoint (empty, text, an image), so that a command can refuse it before any work;
    :func:`read_checkpoint` still reads the whole file when it is used."""
    with open_regular(path) as handle:
        head = handle.read(512)
    if not head:
        raise ConfigError(f"cannot read checkpoint {path} (the file is empty); {fix}")
    if not (head.startswith(_TORCH_FILE_STARTS) or head[257:262] == b"ustar"):
        raise ConfigError(f"cannot read checkpoint {path} (not a file torch.save writes: it begins {head[:8]!r}); "
                          f"{fix}")


def read_checkpoint(path: Path, fix: str) -> dict[str, Any]:
    """The mapping stored in ``path``; ``fix`` says what the user can do when it cannot be read."""
    import pickle

    import torch

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before it refuses a file
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ConfigError(f"cannot read checkpoint {path} (not a weights-only torch file: a plain pickle, or "
                          f"objects other than tensors); {fix}") from exc
    except EOFError as exc:
        raise ConfigError(f"cannot read checkpoint {path} (the file is empty); {fix}") from exc
    except Exception as exc:  # noqa: BLE001 - truncated, not a torch file: all user-fixable
        raise ConfigError(f"cannot read checkpoint {path} ({_reason(exc)}); {fix}") from exc
    if not isinstance(state, Mapping):
        raise ConfigError(f"checkpoint {path} holds a {type(state).__name__}, not a mapping of tensors; {fix}")
    return dict(state)


def load_model_state(model: Any, state: Mapping[str, Any], path: Path, fix: str) -> None:
    """Load ``state`` into ``model`` strictly; a mismatch names the keys that differ and ``fix``."""
    import torch

    expected = model.state_dict()
    not_tensors = [k for k, v in state.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [k for k in expected if k in state and torch.is_tensor(state[k])
                and tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = []
    if not_tensors:
        problems.append(f"{len(not_tensors)} entries that are not tensors (e.g. {_first(not_tensors)})")
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {_first(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {_first(unexpected)})")
    if reshaped:
        k = reshaped[0]
        problems.append(f"{len(reshaped)} tensors of another shape (e.g. {k}: {tuple(state[k].shape)} in the file, "
                        f"{tuple(expected[k].shape)} in the model)")
    if problems:
        raise ConfigError(f"checkpoint {path} does not fit this model: {'; '.join(problems)}; {fix}")
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ConfigError(f"checkpoint {path} does not fit this model ({_reason(exc)}); {fix}") from exc


def _first(keys: list[Any]) -> str:
    return repr(keys[0])[:80]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0][:160] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
