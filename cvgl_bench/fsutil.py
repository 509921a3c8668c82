"""Atomic file writes: a killed process never leaves a half-written file behind; and the
reading of a file a user names (:func:`read_text`), which never blocks on a FIFO or a device.

Temporary files and folders are named ``.<name>.<host>-<pid>.<random>.tmp`` (folders
``.<name>.tmp-<host>-<pid>``), so the next writer of the same name can tell the leftovers of a
writer that died (``kill -9``, power loss) from the work of a live one, and removes them.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success it is fsynced and renamed over ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was. A ``path``
    that is a device, FIFO or socket raises :class:`OSError` before anything is written
    (:func:`refuse_special_file`): the rename would replace it, and run as root,
    ``synth --preview /dev/null`` replaced the device.
    """
    path = Path(path)
    refuse_special_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = mkstemp_beside(path)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a result file is as readable as any other
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:  # a failed write names no file: name ours
            raise _write_error(path, exc) from exc
        raise


def refuse_special_file(path: str | os.PathLike) -> None:
    """Raise :class:`OSError` naming ``path`` when it is a device, FIFO or socket (or a link to
    one), which an atomic write would replace; a command calls it before long work, too."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        mode = os.stat(path).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a folder fails at the rename, named
            raise OSError(errno.EINVAL, "is a device, FIFO or socket, not a regular file", str(path))


def _write_error(path: Path, exc: OSError) -> OSError:
    """``exc`` with ``path`` as its file; a short write on a full disk (numpy's "N requested and M
    written" carries no errno) as the ENOSPC it is."""
    code, why = exc.errno, exc.strerror
    if code is None:
        with contextlib.suppress(OSError):
            if shutil.disk_usage(path.parent).free < 2 ** 20:
                code, why = errno.ENOSPC, os.strerror(errno.ENOSPC)
    return OSError(code or errno.EIO, why or str(exc), str(path))


def mkstemp_beside(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path`` named after it and this writer; leftovers of dead writers go first."""
    sweep_dead_temps(path.parent, path.name)
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.{_writer_tag()}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # named after the file being written, not its temporary name
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def temp_dir_beside(path: Path) -> Path:
    """The temporary folder name beside ``path`` for this writer (not created); leftovers of dead writers go first."""
    sweep_dead_temps(path.parent, path.name)
    return path.parent / f".{path.name}.tmp-{_writer_tag()}"


def sweep_dead_temps(folder: Path, name: str) -> list[Path]:
    """Remove the temporary files and folders for ``name`` in ``folder`` whose writer is dead.

    A writer is dead when it ran on this host and its PID no longer exists. Temporaries of
    other hosts (a shared file system) and of live processes are left alone. Returns what went.
    """
    removed = []
    try:
        entries = list(folder.glob(f".{glob_escape(name)}.*"))
    except OSError:
        return removed
    host = _host()
    for entry in entries:
        match = _TEMP_FILE.fullmatch(entry.name[len(name) + 2:]) or _TEMP_DIR.fullmatch(entry.name[len(name) + 2:])
        if match is None:
            continue
        owner_host, pid = match.group("host"), int(match.group("pid"))
        if (owner_host or host) != host or _pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


_TEMP_FILE = re.compile(r"(?:(?P<host>[^/]+)-)?(?P<pid>[0-9]+)\.[A-Za-z0-9_]+\.tmp")
_TEMP_DIR = re.compile(r"tmp-(?:(?P<host>[^/]+)-)?(?P<pid>[0-9]+)")


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"


def _writer_tag() -> str:
    return f"{_host()}-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def size_text(n: float) -> str:
    """A byte count for a message: ``512 bytes``, ``3.4 MiB``, ``12.0 GiB``."""
    for unit, scale in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{int(n):,} bytes"


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Atomically write ``data`` as indented JSON."""
    with atomic_open(path, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=False, allow_nan=False)
        handle.write("\n")


def write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    """Atomically write bytes."""
    with atomic_open(path, "wb") as handle:
        handle.write(payload)


def write_npz(path: str | os.PathLike, arrays: dict[str, Any]) -> None:
    """Atomically write a compressed ``.npz``."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes(path, buffer.getvalue())


def open_regular(path: str | os.PathLike) -> IO[bytes]:
    """``path`` opened for binary reading, if it is a regular file.

    A folder, FIFO, socket or device raises :class:`OSError` at once, where ``open`` would wait
    on a FIFO for a writer forever.
    """
    nonblocking = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO without it waits for a writer
    fd = os.open(path, os.O_RDONLY | nonblocking)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    if nonblocking:
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_text(path: str | os.PathLike) -> str:
    """The UTF-8 text of the regular file ``path`` (:func:`open_regular`); text that is not
    UTF-8 raises :class:`UnicodeDecodeError`."""
    with open_regular(path) as handle:
        return handle.read().decode("utf-8")


def not_a_file(path: Path) -> str:
    """Why ``path`` is not a readable regular file, for a one-line error: "does not exist", "is a
    folder" or "is not a regular file" (a FIFO, socket or device), with :func:`near_miss`."""
    path = Path(path)
    return "is a folder" if path.is_dir() else "is not a regular file" if path.exists() else \
        f"does not exist{near_miss(path)}"


def near_miss(path: str | os.PathLike) -> str:
    """For a file that is not where it was expected: ``" (it is a folder)"``, or the name beside
    it that differs only in case (``" (0001.JPG is there: the names differ in case)"``), else ``""``."""
    path = Path(path)
    if path.is_dir():
        return " (it is a folder)"
    try:
        names = os.listdir(path.parent)
    except OSError:
        return ""
    twin = next((name for name in sorted(names) if name.lower() == path.name.lower() and name != path.name), None)
    return f" ({twin} is there: the names differ in case)" if twin else ""


#: Values a YAML document a user wrote may expand to (aliases repeat a value without copying it).
YAML_MAX_VALUES = 1_000_000


def load_yaml(text: str, loader: type | None = None) -> Any:
    """A YAML document a user wrote (suite, config, published numbers, ``--set`` value), read safely.

    ``loader`` (a ``yaml.SafeLoader`` subclass; default the C one where libyaml is there) reads
    it; on top of that a key given twice in one mapping, a number too long to convert, and aliases
    that expand the document beyond :data:`YAML_MAX_VALUES` values (a "billion laughs" file, or an
    alias cycle) raise :class:`yaml.YAMLError`, which callers already turn into one line.
    """
    import yaml

    class _Strict(loader or getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: list[Any] = []
            for key_node, _ in getattr(node, "value", ()):
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is given twice",
                                                            key_node.start_mark)
                seen.append(key)
            return super().construct_mapping(node, deep=deep)

    try:
        data = yaml.load(text, Loader=_Strict)  # noqa: S506 - a SafeLoader subclass
    except (ValueError, RecursionError) as exc:  # int() of thousands of digits; nesting too deep
        raise yaml.YAMLError(str(exc) or type(exc).__name__) from None
    count, stack = 0, [data]
    while stack:
        item = stack.pop()
        count += 1
        if count > YAML_MAX_VALUES:
            raise yaml.YAMLError(f"the document expands to more than {YAML_MAX_VALUES:,} values through its "
                                 "aliases (*name); write the values out")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return data


def check_writable(folder: str | os.PathLike, option: str) -> None:
    """Write (and remove) a file in ``folder``, or in its nearest existing parent when it is not
    there yet (nothing is created), or raise one ConfigError line naming ``option``: found before
    an hour of training, not when its result is written."""
    from .errors import ConfigError

    def exists(path: Path) -> bool:  # os.stat: a name too long raises on every Python, never reads as absent
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    folder = Path(folder).absolute()
    try:
        existing = next(p for p in (folder, *folder.parents) if exists(p))
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "a file is in the way", str(existing))
        fd, tmp = tempfile.mkstemp(prefix=".write-check.", suffix=".tmp", dir=existing)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise ConfigError(f"{option} {folder}: cannot write there ({exc.strerror or exc}); pass a folder you can "
                          "write") from None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    import hashlib

    h = hashlib.sha256()
    with open_regular(path) as handle:
        while block := handle.read(chunk):
            h.update(block)
    return h.hexdigest()
