"""Provenance: everything needed to tell whether two results are comparable.

Collected once per record: package and plugin versions, the git revision of the checkout,
the interpreter and platform, and the compute device. Cheap; never imports torch unless the
caller already has.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import __version__

PACKAGES = ("torch", "torchvision", "timm", "numpy", "scipy", "pillow", "pandas", "pluggy", "faiss-cpu", "faiss-gpu")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages results depend on (absent ones are left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_revision(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Revision and dirty flag of the git checkout holding ``path`` (the package by default)."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                capture_output=True, text=True, timeout=5, check=True).stdout
        return {"revision": rev, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  timeout=5, check=True).stdout.strip() or platform.machine()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def cpu_signature(cpuinfo: str | None = None) -> str | None:
    """The first CPU's vendor, family, model and stepping from ``/proc/cpuinfo`` (x86 Linux), e.g.
    ``AuthenticAMD family 26 model 2 stepping 1``; None elsewhere. It tells apart two CPUs whose
    model name a virtual machine hides (``AMD EPYC``) and whose kernels can round differently, so
    a checkpoint that does not reproduce bit for bit can be traced to the machine."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip() and fields:
            break  # the first processor's block
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if not fields.get("vendor_id") or not fields.get("cpu family"):
        return None
    return (f"{fields['vendor_id']} family {fields['cpu family']} model {fields.get('model', '?')} "
            f"stepping {fields.get('stepping', '?')}")


def device_info(device: str | None = None) -> dict[str, Any]:
    """The compute device: CPU model, signature and threads (and the instruction set torch's CPU
    kernels use), or the GPU name and count."""
    info: dict[str, Any] = {"device": device or "cpu", "cpu": cpu_model(), "cpu_id": cpu_signature(),
                            "cpu_count": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
        info["cpu_capability"] = capability() if capability is not None else None
        if device and device.startswith("cuda") and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(torch.device(device))
            info["gpu_count"] = torch.cuda.device_count()
    return info


def plugin_versions(host: Any) -> dict[str, str]:
    """Distribution versions of every loaded plugin (built-ins included)."""
    return {s.distribution: s.version for s in host.statuses if not s.error}


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def source_digest(obj: Any) -> str | None:
    """SHA-256 over the Python sources of the packages that define ``obj``'s class and its bases
    (this core package left out: its changes are tracked by the git revision of each record).

    What defines a trained model beyond its hyper-parameters: a plugin edited in place (an
    editable install, same version) gets a new digest, so its old checkpoints are not reused.
    None when the package has no source files on disk (a zip import, a frozen build).
    """
    import hashlib

    tops = sorted({cls.__module__.split(".")[0] for cls in type(obj).__mro__}
                  - {__package__, *sys.stdlib_module_names, *sys.builtin_module_names})
    files: list[tuple[str, Path]] = []
    for top in tops:
        module = sys.modules.get(top)
        folders = [Path(f) for f in getattr(module, "__path__", None) or []]
        if folders:
            files += sorted((f"{top}/{f.relative_to(folder).as_posix()}", f) for folder in folders
                            for f in folder.rglob("*.py"))
        elif getattr(module, "__file__", None):
            files.append((top, Path(module.__file__)))
        else:
            return None
    h = hashlib.sha256()
    for name, path in files:
        try:
            payload = path.read_bytes()
        except OSError:
            return None
        h.update(f"{name}\0{len(payload)}\0".encode())
        h.update(payload)
    return h.hexdigest() if files else None


def collect(host: Any = None, device: str | None = None) -> dict[str, Any]:
    """The provenance block shared by every record of a run."""
    data: dict[str, Any] = {
        "cvgl_bench_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "git": git_revision(),
        **device_info(device),
    }
    if host is not None:
        data["plugins"] = plugin_versions(host)
    return data
