"""The set-up: a machine with an NVIDIA GPU gets TensorFlow's CUDA build, any other the CPU wheel.

No GPU is here, so the choice is tested with a stand-in `nvidia-smi`; that both builds are
declared is read from pyproject.toml.
"""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _choice(path: str) -> str:
    env = dict(os.environ, PATH=path)
    return subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh"), "tensorflow"], env=env, capture_output=True,
                          text=True, check=True, timeout=60).stdout.strip()


@pytest.mark.parametrize("answers, build", [(0, "gpu"), (9, "cpu")])
def test_a_machine_whose_nvidia_smi_lists_a_gpu_gets_the_cuda_build(tmp_path, answers, build):
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\necho 'GPU 0: NVIDIA A100'\nexit {answers}\n")
    fake.chmod(0o755)
    assert _choice(f"{tmp_path}:{os.environ['PATH']}") == build


def test_a_machine_without_nvidia_smi_gets_the_cpu_wheel(tmp_path):
    path = ":".join(p for p in os.environ["PATH"].split(":") if not (Path(p) / "nvidia-smi").exists())
    assert _choice(path) == "cpu"


def test_both_builds_are_extras_of_the_package():
    declared = (ROOT / "pyproject.toml").read_text()
    assert 'gpu = ["tensorflow[and-cuda]' in declared and 'cpu = ["tensorflow-cpu' in declared
