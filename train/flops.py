"""How close to the limit: the FLOP of one training step, and this machine's FP32 peak.

train.bench divides each row's achieved FLOP/s (images/s × FLOP per image of a
training step) by :func:`cpu_fp32_peak`, so "how far from the machine's limit" is
a number. Both halves are estimates whose assumptions are written down here:
the FLOP count is that of the matrix products alone, and the peak is read from
``/proc/cpuinfo`` with a rule per instruction set (:func:`flop_per_cycle`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path


def training_step_flops(model, batch: int, height: int, width: int) -> int:
    """FLOP of one training step (forward and backward) of ``FixedCNN`` or ``VarResCNN``
    (train/models.py) on a ``(batch, height, width, C)`` batch.

    Every convolution is a matrix product of ``M = batch·H_out·W_out`` rows,
    ``K = kh·kw·C_in`` and ``N = C_out``; the linear layer one of ``M = batch``,
    ``K = in_features``, ``N = out_features``. Per layer::

        forward          2·M·K·N   (a multiply and an add per term)
        weight gradient  2·M·K·N   (dW = Uᵀ g)
        input gradient   2·M·K·N   (dU = g Wᵀ), except the first layer: the images need none

    so a step is 3× the forward less the first layer's input gradient.
    ``H_out = (H + 2·pad - kh) // stride + 1``; each convolution is followed by a
    2×2 max pool (``H // 2``), as in both networks. Not counted: the bias adds,
    ReLU, pooling, the loss and Adam, each linear in the activations or the
    parameters (about 1% of the products here). Padding taps count as work,
    as usual for a convolution's FLOP count.
    """
    total, first = 0, True
    for conv in model.convs:
        (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
        height, width = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
        forward = 2 * (batch * height * width) * (kh * kw * conv.in_features) * conv.out_features
        total += (2 if first else 3) * forward
        height, width, first = height // 2, width // 2, False
    forward = 2 * batch * model.linear.in_features * model.linear.out_features
    return total + (2 if first else 3) * forward


@dataclasses.dataclass(frozen=True)
class Peak:
    """FP32 peak = cores × clock × FLOP per cycle per core, with where each number came from."""

    cores: int
    mhz: float
    flop_per_cycle: int
    isa: str  # the rule that gave flop_per_cycle
    clock_source: str

    @property
    def flops(self) -> float:
        return self.cores * self.mhz * 1e6 * self.flop_per_cycle


def flop_per_cycle(flags: set[str], vendor: str, family: int, model: int) -> tuple[int, str]:
    """FP32 FLOP per cycle per core of the vector units, and the assumption behind it.

    FMA units × lanes × 2 (an FMA is a multiply and an add):

    * AVX-512 on Intel: two 512-bit FMA units (Xeon Scalable Gold/Platinum and later;
      some Silver/Bronze and client parts have one, half this): 2 × 16 × 2 = 64.
    * AVX-512 on AMD Zen 4 (family 25): executed as two 256-bit halves, so 2 × 8 × 2 = 32;
      Zen 5 (family 26) has full 512-bit units: 64.
    * AVX2 + FMA (Intel Haswell and later, AMD Zen 2 and Zen 3): 2 × 8 × 2 = 32;
      AMD Zen 1 (family 23, model < 0x30) splits them into 128-bit halves: 16.
    * AVX without FMA: one 8-lane add and one 8-lane multiply per cycle: 16.
    * SSE: one 4-lane add and one 4-lane multiply per cycle: 8.
    * ARM NEON (asimd): two 128-bit FMA pipes assumed: 2 × 4 × 2 = 16.
    """
    amd = vendor == "AuthenticAMD"
    if "avx512f" in flags:
        if amd and family == 25:
            return 32, "AVX-512 on AMD Zen 4, as 256-bit halves: 2 FMA × 8 lanes × 2"
        return 64, "AVX-512, 2 FMA units assumed: 2 × 16 lanes × 2"
    if "avx2" in flags and "fma" in flags:
        if amd and family == 23 and model < 0x30:
            return 16, "AVX2+FMA on AMD Zen 1, as 128-bit halves: 2 FMA × 4 lanes × 2"
        return 32, "AVX2+FMA: 2 FMA units × 8 lanes × 2"
    if "avx" in flags:
        return 16, "AVX without FMA: 8-lane add + 8-lane multiply"
    if "sse2" in flags or "sse" in flags:
        return 8, "SSE: 4-lane add + 4-lane multiply"
    if "asimd" in flags:
        return 16, "NEON, 2 FMA pipes assumed: 2 × 4 lanes × 2"
    named = " ".join(sorted(flags)) or "(none)"
    raise ValueError(f"no FP32 peak rule for a CPU with flags {named}")


def _cpuinfo_blocks(text: str) -> list[dict[str, str]]:
    """/proc/cpuinfo as one {field: value} per logical CPU."""
    blocks = []
    for block in text.strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            name, _, value = line.partition(":")
            fields[name.strip()] = value.strip()
        blocks.append(fields)
    return blocks


def cpu_fp32_peak(cpuinfo: str | None = None, max_khz: str | None = None) -> Peak:
    """This machine's FP32 peak from ``/proc/cpuinfo`` (or the text given).

    Cores: the distinct (physical id, core id) of the logical CPUs this process
    may run on (SMT siblings share one core's vector units). Clock: the maximum
    from cpufreq (``cpuinfo_max_freq``, what ``lscpu`` shows as "CPU max MHz"),
    else the highest "cpu MHz" of /proc/cpuinfo. Under a hypervisor there is no
    cpufreq and "cpu MHz" is the nominal clock, not the boost clock the cores
    may run at, so the share can then read a little high.
    """
    if cpuinfo is None:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    blocks = [b for b in _cpuinfo_blocks(cpuinfo) if "processor" in b]
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    mine = [b for b in blocks if allowed is None or int(b["processor"]) in allowed] or blocks
    cores = len({(b.get("physical id"), b.get("core id", b["processor"])) for b in mine})
    first = mine[0]
    flags = set((first.get("flags") or first.get("Features") or "").split())
    vendor = first.get("vendor_id", "")
    family, model = int(first.get("cpu family", "0")), int(first.get("model", "0"))
    per_cycle, isa = flop_per_cycle(flags, vendor, family, model)
    if max_khz is None:
        freq = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
        max_khz = freq.read_text() if freq.exists() else ""
    if max_khz.strip():
        mhz, source = int(max_khz) / 1000, "cpufreq max"
    else:
        mhz, source = max(float(b.get("cpu MHz", "nan")) for b in mine), '/proc/cpuinfo "cpu MHz"'
    if not mhz > 0:
        raise ValueError("the CPU clock is unknown: no cpufreq and no 'cpu MHz' in /proc/cpuinfo")
    return Peak(cores, mhz, per_cycle, isa, source)
