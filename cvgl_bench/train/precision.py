"""The number format a training actually runs in, from its ``amp`` setting and its device.

``amp: "bf16"`` is the cpu profiles' mixed precision: on a CPU with native bfloat16 arithmetic
(AVX512-BF16 or AMX on x86, the BF16 extension on Arm) a training step is about a quarter
faster than in float32. Without it, bfloat16 is emulated, and the same step is 2.3x (AVX-512)
to 14x (AVX2) *slower* than float32 (docs/synth.md, "Mixed precision"). Such a CPU therefore
trains in float32, says so in one line, and the record's ``trained_with.train_precision``
tells which format made the weights.
"""

from __future__ import annotations

__all__ = ["native_cpu_bf16", "training_precision"]

_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16")
"""``torch.cpu.get_capabilities()`` flags of native bfloat16 arithmetic (x86, then Arm)."""


def native_cpu_bf16() -> bool | None:
    """Whether this CPU computes bfloat16 natively; ``None`` where this torch cannot tell (no
    ``torch.cpu.get_capabilities``)."""
    import torch

    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if capabilities is None:
        return None
    flags = capabilities()
    return any(bool(flags.get(flag)) for flag in _NATIVE_BF16_FLAGS)


def training_precision(amp: bool | str, device_type: str) -> str:
    """``"float16"``, ``"bfloat16"`` or ``"float32"``: the autocast format of a training step.

    ``amp=True`` is float16 on CUDA and float32 elsewhere (Sample4Geo's GradScaler recipe);
    ``amp="bf16"`` is bfloat16 on every device except a CPU known to lack native bfloat16
    (:func:`native_cpu_bf16` false), which trains in float32."""
    if amp is True:
        return "float16" if device_type == "cuda" else "float32"
    if amp == "bf16":
        if device_type == "cpu" and native_cpu_bf16() is False:
            return "float32"
        return "bfloat16"
    return "float32"
