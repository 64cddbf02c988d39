# Skip a test when Python or the Python package pykd cannot be used. Tests
# that need Python run whenever it is there (set RETICULATE_PYTHON).
skip_if_no_pykd <- function() {
  Sys.setenv(TF_CPP_MIN_LOG_LEVEL = "2")
  if (!rkd_available()) {
    testthat::skip("Python package pykd is not available")
  }
}

# A fresh copy of the example data in a temporary folder removed after the
# calling test.
local_example_data <- function(env = parent.frame()) {
  dir <- withr::local_tempdir("rkd-ex-", .local_envir = env)
  rkd_example_data(dir)
}

# One copy of the example data for the whole test run, shared by the tests
# that only read it: unzipped once, and pykd looks at each image once (a file
# unchanged since its last look is not decoded again).
shared_example_data <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) {
      cache <<- rkd_example_data(tempfile("rkd-ex-"))
    }
    cache
  }
})

# Small untrained example models, built once per test run: tests that only
# provoke refusals share them (pykd refuses before training changes them).
test_models <- local({
  cache <- NULL
  function() {
    skip_if_no_pykd()
    if (is.null(cache)) {
      cache <<- rkd_example_models(n_classes = 10, seed = 1)
    }
    cache
  }
})

# Replace temporary paths in snapshots.
scrub_paths <- function(lines) {
  lines <- gsub("\"[^\"]*rkd-ex-[^\"]*\"", "\"<tmp>\"", lines)
  lines <- gsub("'[^']*rkd-ex-[^']*'", "'<tmp>'", lines)
  gsub("/[^ '\"]*rkd-ex-[^ '\"]*", "<tmp>", lines)
}

# The condition `expr` signals (NULL if none).
catch_error <- function(expr) {
  tryCatch({
    expr
    NULL
  }, error = function(e) e)
}

# A message as one line of plain text: cli's bullets, colours and line
# wrapping removed, so it can be compared with pykd's text.
flat_message <- function(err) {
  lines <- strsplit(cli::ansi_strip(conditionMessage(err)), "\n", fixed = TRUE)[[1]]
  for (bullet in paste0(c(cli::symbol$cross, cli::symbol$info), " ")) {
    starts <- startsWith(lines, bullet)
    lines[starts] <- substring(lines[starts], nchar(bullet) + 1)
  }
  trimws(gsub("\\s+", " ", paste(lines, collapse = " ")))
}

# pykd's own refusal of fun(...), called in Python without the R bridge: the
# DataError's problem and fix rendered for R, list(problem, fix, python =
# the same rendered for Python), or NULL when fun(...) raises no DataError.
pykd_refusal <- function(fun, ...) {
  reticulate::py_run_string(paste(
    "def rkd_test_refusal(fun, *args, **kwargs):",
    "    from pykd import DataError",
    "    try:",
    "        fun(*args, **kwargs)",
    "    except DataError as err:",
    "        return {**err.render('r'), 'python': err.render('python')}",
    "    return None",
    sep = "\n"
  ))
  reticulate::py$rkd_test_refusal(fun, ...)
}

# An R script running `code` after loading rkd the way this test run did
# (the installed package, or the sources under pkgload), and the command to
# run it in a fresh R session: list(rscript, args, libs), libs being this
# session's library paths for R_LIBS. The script is removed with `env`'s frame.
fresh_r_script <- function(code, env = parent.frame()) {
  path <- find.package("rkd")
  load <- if (file.exists(file.path(path, "DESCRIPTION")) &&
              dir.exists(file.path(path, "R")) &&
              !file.exists(file.path(path, "R", "rkd.rdb"))) {
    sprintf("pkgload::load_all(%s, quiet = TRUE)", deparse(path))
  } else {
    sprintf("library(rkd, lib.loc = %s)", deparse(dirname(path)))
  }
  script <- withr::local_tempfile(fileext = ".R", .local_envir = env)
  writeLines(c(load, code), script)
  list(
    rscript = file.path(R.home("bin"), "Rscript"),
    args = c("--vanilla", script),
    libs = paste(.libPaths(), collapse = .Platform$path.sep)
  )
}

# Run R code in a fresh R session with `env` set ("NAME=value"). Returns the
# session's output lines.
run_fresh_r <- function(code, env = character()) {
  run <- fresh_r_script(code)
  libs <- paste0("R_LIBS=", shQuote(run$libs))
  suppressWarnings(system2(run$rscript, run$args, env = c(libs, env),
                           stdout = TRUE, stderr = TRUE))
}

# The sum of a Keras model's weights, computed in Python (NumPy arrays do not
# cross into R): equal before and after a refused run.
weight_sum <- function(model) {
  main <- reticulate::py_run_string(
    "def _rkd_weight_sum(m): return float(sum(float(w.sum()) for w in m.get_weights()))",
    convert = FALSE
  )
  reticulate::py_to_r(main$`_rkd_weight_sum`(model))
}
