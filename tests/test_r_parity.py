"""R's distill() and Python's pykd.distill() run one loop: same seed, same data, same history.
(That they refuse the same inputs with pykd's message, its values in R, is tested from R:
Rpkg/tests/testthat/test-rules.R.)

R is embedded through rpy2 in a subprocess, and R's reticulate calls back into
that same Python. The interpreter may abort in R's cleanup at exit, so the
subprocess writes its result to a file and its exit status is not trusted.
Under rpy2, R runs with the GIL released, and reticulate 1.28 frees Python
objects from R's garbage collector without taking it: freeing a Python
exception that way aborts the interpreter. The subprocesses therefore start R
with a heap large enough (R_NSIZE, R_VSIZE) that it never collects garbage.
"""

import os
import shutil
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from conftest import tiny_model

import pykd

pytestmark = pytest.mark.r

R_SCRIPT = textwrap.dedent(
    r"""
    import os, sys
    import rpy2.robjects as ro
    out = sys.argv[1]
    ro.r('suppressPackageStartupMessages(library(rkd))')
    ro.r('''
    run <- function(teacher, student, train, directory, validation, classes, out) {{
      h <- distill(teacher, student, train, directory, validation = validation, classes = classes,
                   batch_size = 16, epochs = 3, steps_per_epoch = 5, validation_steps = 7,
                   temperature = 2.5, alpha = 0.3, seed = 11, verbose = FALSE,
                   augment = augmentation(rotation_range = 10, horizontal_flip = TRUE))
      utils::write.csv(as.data.frame(h), out, row.names = FALSE)
    }}''')
    ro.r['run']({teacher!r}, {student!r}, {train!r}, {directory!r}, {validation!r},
                ro.StrVector({classes!r}), out)
    sys.stdout.flush()
    os._exit(0)  # skip R's cleanup at exit, which can abort an embedded interpreter
    """
)


def _r_env() -> dict:
    """The environment of an rpy2 subprocess: this Python for reticulate, no R garbage collection (see above)."""
    return dict(os.environ, RETICULATE_PYTHON=sys.executable, TF_CPP_MIN_LOG_LEVEL="2",
                R_NSIZE="20000000", R_VSIZE="4000M")


@pytest.fixture(scope="module")
def rkd_installed():
    """Skips the module's tests where R, rpy2 or the rkd package is missing (asked when a test needs it)."""
    if shutil.which("Rscript") is None:
        pytest.skip("R is not installed")
    pytest.importorskip("rpy2")
    check = subprocess.run(["Rscript", "-e", "quit(status = !requireNamespace('rkd', quietly = TRUE))"], timeout=120)
    if check.returncode != 0:
        pytest.skip("the R package rkd is not installed")


def test_r_and_python_distill_give_the_same_history(digits, tmp_path, rkd_installed):
    teacher_path, student_path = str(tmp_path / "teacher.keras"), str(tmp_path / "student.keras")
    pykd.models.save_model(tiny_model(seed=1), teacher_path)
    pykd.models.save_model(tiny_model(seed=2), student_path)
    # R saves a student given as a file back to it: Python starts from its own copy.
    python_student = shutil.copy(student_path, tmp_path / "student_for_python.keras")
    script = tmp_path / "from_r.py"
    script.write_text(R_SCRIPT.format(teacher=teacher_path, student=student_path, train=digits["train_csv"],
                                      directory=digits["directory"], validation=digits["validation_csv"],
                                      classes=digits["classes"]))
    out = tmp_path / "r_history.csv"
    proc = subprocess.run([sys.executable, str(script), str(out)], env=_r_env(), capture_output=True, text=True, timeout=600)
    assert out.is_file(), f"R run wrote no history.\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    from_r = pd.read_csv(out)

    from_python = pykd.distill(
        teacher_path, str(python_student), digits["train_csv"], directory=digits["directory"],
        validation=digits["validation_csv"], classes=digits["classes"], batch_size=16, epochs=3,
        steps_per_epoch=5, validation_steps=7, temperature=2.5, alpha=0.3, seed=11, verbose=0,
        augment=pykd.Augmentation(rotation_range=10, horizontal_flip=True),
    ).to_frame()
    assert list(from_r.columns) == list(from_python.columns)
    pd.testing.assert_frame_equal(from_r, from_python, check_dtype=False, rtol=0, atol=1e-6)
