"""The precision a model computes in, and the hardware that decides it.

A teacher runs faster in bfloat16 where the hardware computes it natively (CPUs with
avx512_bf16 or amx_bf16, GPUs from Ampere on); predictions and exports run in float32
whatever the model's own policy. Either way the model itself is used, never a copy
rebuilt from its config: a copy cannot be made of a model holding a Python lambda, a
nested function or a custom layer without get_config().
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .._tf import keras, tf
from ..core.errors import DataError, Text

# Forces what native_bfloat16() answers: "1" as on a machine with bf16 hardware, "0" as without.
FORCE_ENV = "PYKD_BFLOAT16"
PRECISIONS = ("auto", "float32", "bfloat16")


def native_bfloat16() -> bool:
    """Whether this machine computes bfloat16 in hardware, where a bf16 teacher is faster.

    GPUs: compute capability 8.0 or newer (Ampere on). CPUs: the avx512_bf16 or
    amx_bf16 instructions (read from /proc/cpuinfo on Linux). Elsewhere bfloat16
    is emulated and slower than float32, so "auto" keeps float32. The environment
    variable PYKD_BFLOAT16=1 or 0 forces the answer (tests run both ways on any machine).
    """
    forced = os.environ.get(FORCE_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if forced:
        raise DataError(f"The environment variable {FORCE_ENV} is {{value}}; it must be 0 or 1, or unset.",
                        f"Unset {FORCE_ENV} to read the hardware, or set it to 1 (bfloat16) or 0 (float32).",
                        value=Text(repr(forced)))
    return _hardware_bfloat16()


@functools.cache
def _hardware_bfloat16() -> bool:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = [tf.config.experimental.get_device_details(g) for g in gpus]
        return all(tuple(d.get("compute_capability", (0, 0))) >= (8, 0) for d in details)
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def resolved(precision: str) -> str:
    """"float32" or "bfloat16" for a teacher_precision setting ("auto": what the hardware computes natively)."""
    if precision == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return precision


@contextmanager
def computing_in(models: Sequence[keras.Model], compute_dtype: str | None) -> Iterator[None]:
    """Every layer of `models` computes in `compute_dtype` ("bfloat16", its weights kept in
    float32, or "float32"; None changes nothing) for the block; their own policies are back after it.

    Keras reads a layer's policy when the layer is called, so a tf.function traced inside the
    block computes in that dtype every time it runs, and the models are left as they were.
    """
    if compute_dtype is None:
        yield
        return
    policy = "mixed_bfloat16" if compute_dtype == "bfloat16" else compute_dtype
    saved = []
    try:
        for model in models:
            # _flatten_layers also reaches the layers a custom layer holds, which no public list does.
            for layer in model._flatten_layers(include_self=True):
                current = layer.dtype_policy
                if isinstance(current, keras.dtype_policies.DTypePolicyMap) or current.quantization_mode:
                    continue  # a quantized layer computes as its quantization says
                saved.append((layer, current))
                layer.dtype_policy = policy
        yield
    finally:
        for layer, current in reversed(saved):
            layer.dtype_policy = current

