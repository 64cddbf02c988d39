"""Import TensorFlow quietly, with an install hint when it is missing."""

from __future__ import annotations

import os
import sys
import tempfile

# TensorFlow's C++ logging buries the user's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Banners that TensorFlow's C++ side prints at import whatever the log level;
# oneDNN itself stays on (it makes CPU training about twice as fast).
_NOISE = ("oneDNN custom operations are on", "All log messages before absl::InitializeLog()")


def _import_quietly():
    """Import tensorflow with file descriptor 2 captured, then replay all but the banners."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. some embedded interpreters)
        import tensorflow

        return tensorflow
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines(keepends=True):
                if not any(n in line for n in _NOISE):
                    sys.stderr.write(line)
    return tensorflow


try:
    tf = _import_quietly()
except ImportError as err:  # pragma: no cover - depends on the machine
    raise ImportError(
        "pykd needs TensorFlow >= 2.16. Install it with "
        "`pip install 'pykd[cpu]'` (CPU) or `pip install 'pykd[gpu]'` (NVIDIA GPU)."
    ) from err

import keras  # noqa: E402

__all__ = ["tf", "keras"]
