"""R's distill() and Python's pykd.distill() run one loop: same seed, same data, same history;
and they refuse the same inputs with the same message, pykd's, its values written in R.

R is embedded through rpy2 in a subprocess, and R's reticulate calls back into
that same Python. The interpreter may abort in R's cleanup at exit, so the
subprocess writes its result to a file and its exit status is not trusted.
Under rpy2, R runs with the GIL released, and reticulate 1.28 frees Python
objects from R's garbage collector without taking it: freeing a Python
exception that way aborts the interpreter. The subprocesses therefore start R
with a heap large enough (R_NSIZE, R_VSIZE) that it never collects garbage.
"""

import os
import re
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


def _have_rkd() -> bool:
    if shutil.which("Rscript") is None:
        return False
    try:
        import rpy2  # noqa: F401
    except ImportError:
        return False
    check = subprocess.run(["Rscript", "-e", "quit(status = !requireNamespace('rkd', quietly = TRUE))"])
    return check.returncode == 0


@pytest.mark.skipif(not _have_rkd(), reason="R, rpy2 or the rkd package is not installed")
def test_r_and_python_distill_give_the_same_history(digits, tmp_path):
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


# Inputs only R refused before pykd had the rules: (table, pykd.distill options, the same in R).
REFUSALS = {
    "rescale_zero": ("train_csv", lambda classes: {"rescale": 0}, "train, rescale = 0"),
    "duplicate_classes": (
        "train_csv", lambda classes: {"classes": ["zero", "one", "zero", "one", "two"]},
        'train, classes = c("zero", "one", "zero", "one", "two")',
    ),
    "zoom_range_one": ("train_csv", lambda classes: {"augment": {"zoom_range": 1}}, "train, augment = list(zoom_range = 1)"),
    "one_hot_reordered": (
        "validation_csv", lambda classes: {"y_col": list(classes), "classes": list(reversed(classes))},
        "validation, y_col = classes, classes = rev(classes)",
    ),
    "single_class": ("train_csv", lambda classes: {"classes": ["zero"]}, 'train, classes = "zero"'),
}

R_REFUSALS = textwrap.dedent(
    r"""
    import os, sys
    import rpy2.robjects as ro
    out = sys.argv[1]
    ro.r('suppressPackageStartupMessages(library(rkd))')
    ro.r('''
    refuse <- function(teacher, student, train_csv, validation_csv, directory, classes, out) {{
      train <- utils::read.csv(train_csv)
      validation <- utils::read.csv(validation_csv, check.names = FALSE)
      run <- function(df, ...) distill(teacher, student, df, directory, epochs = 1,
                                       steps_per_epoch = 1, verbose = FALSE, ...)
      cases <- list({cases})
      for (case in names(cases)) {{
        err <- tryCatch({{ eval(cases[[case]]); NULL }}, error = function(e) e)
        lines <- strsplit(cli::ansi_strip(conditionMessage(err)), "\\n", fixed = TRUE)[[1]]
        for (bullet in paste0(c(cli::symbol$cross, cli::symbol$info), " ")) {{
          lines <- ifelse(startsWith(lines, bullet), substring(lines, nchar(bullet) + 1), lines)
        }}
        writeLines(c(paste(class(err), collapse = " "), paste(err$python_type, ""),
                     paste(lines, collapse = " ")), file.path(out, paste0(case, ".txt")))
      }}
    }}''')
    ro.r['refuse']({teacher!r}, {student!r}, {train!r}, {validation!r}, {directory!r},
                   ro.StrVector({classes!r}), out)
    sys.stdout.flush()
    os._exit(0)  # skip R's cleanup at exit, which can abort an embedded interpreter
    """
)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def refusal_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refusal_models")
    teacher, student = str(folder / "teacher.keras"), str(folder / "student.keras")
    pykd.models.save_model(tiny_model(seed=1), teacher)
    pykd.models.save_model(tiny_model(seed=2), student)
    return teacher, student


@pytest.fixture(scope="module")
def r_refusals(digits, refusal_models, tmp_path_factory):
    """What R's distill() says for each input of REFUSALS, from one R session: {case: (classes, type, message)}."""
    if not _have_rkd():
        pytest.skip("R, rpy2 or the rkd package is not installed")
    folder = tmp_path_factory.mktemp("r_refusals")
    cases = ", ".join(f"{case} = quote(run({r_args}))" for case, (_, _, r_args) in REFUSALS.items())
    script = folder / "refusals_from_r.py"
    script.write_text(R_REFUSALS.format(
        cases=cases, teacher=refusal_models[0], student=refusal_models[1], train=digits["train_csv"],
        validation=digits["validation_csv"], directory=digits["directory"], classes=digits["classes"]))
    proc = subprocess.run([sys.executable, str(script), str(folder)], env=_r_env(), capture_output=True, text=True,
                          timeout=600)
    found = {}
    for case in REFUSALS:
        path = folder / f"{case}.txt"
        assert path.is_file(), f"R wrote nothing for {case}.\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        classes, python_type, message = path.read_text().split("\n")[:3]
        found[case] = (classes.split(), python_type.strip(), _flat(message))
    return found


@pytest.mark.parametrize("case", list(REFUSALS))
def test_r_and_python_refuse_alike(case, digits, refusal_models, r_refusals):
    """pykd.distill in Python and rkd::distill in R refuse the input with the same text, values in R syntax."""
    table, options, _ = REFUSALS[case]
    with pytest.raises(pykd.DataError) as raised:
        pykd.distill(*refusal_models, digits[table], directory=digits["directory"], epochs=1, steps_per_epoch=1,
                     verbose=0, **options(digits["classes"]))
    wanted = raised.value.render("r")
    classes, python_type, message = r_refusals[case]
    assert classes[:2] == ["rkd_data_error", "rkd_error"]
    assert python_type == "DataError"
    assert message.startswith(_flat(wanted["problem"]))
    if wanted["fix"] is not None:
        assert message.endswith(_flat(wanted["fix"]))
