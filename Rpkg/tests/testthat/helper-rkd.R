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

# An existing (empty) file standing in for a saved model: distill() checks
# its inputs before loading models, so input errors can be tested without
# Python.
local_model_file <- function(env = parent.frame()) {
  path <- withr::local_tempfile(fileext = ".keras", .local_envir = env)
  file.create(path)
  path
}

# Replace temporary paths in snapshots.
scrub_paths <- function(lines) {
  lines <- gsub("'[^']*rkd-ex-[^']*'", "'<tmp>'", lines)
  gsub("/[^ ']*rkd-ex-[^ ']*", "<tmp>", lines)
}
