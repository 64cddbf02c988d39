test_that("rkd_available() answers TRUE or FALSE without failing", {
  expect_type(rkd_available(), "logical")
  expect_length(rkd_available(), 1)
  expect_type(rkd_available(initialize = FALSE), "logical")
})

test_that("a missing pykd gives an error saying how to install it", {
  expect_snapshot(error = TRUE, rkd:::abort_no_pykd(NULL, env_python = ""))
  expect_snapshot(error = TRUE, rkd:::abort_no_pykd("/usr/bin/python3"))
  expect_snapshot(error = TRUE,
    rkd:::abort_no_pykd(NULL, env_python = "/no/such/python"))
  expect_error(rkd:::abort_no_pykd(NULL), class = "rkd_no_pykd")
})

test_that("install_rkd() needs a pykd source", {
  withr::local_envvar(RKD_PYKD_SOURCE = "")
  expect_snapshot(error = TRUE, install_rkd())
  expect_snapshot(error = TRUE, install_rkd(pykd = "./no/such/checkout"))
  dir <- withr::local_tempdir()
  expect_equal(rkd:::resolve_pykd_spec(dir), normalizePath(dir))
  expect_equal(rkd:::resolve_pykd_spec("pykd==0.1.0"), "pykd==0.1.0")
  expect_equal(rkd:::pykd_requirements(dir, "cpu"), paste0(dir, "[cpu]"))
  expect_equal(rkd:::pykd_requirements("pykd.whl", "gpu"),
               c("pykd.whl", "tensorflow[and-cuda]>=2.16"))
  expect_equal(rkd:::pykd_requirements(dir, "none"), dir)
})

test_that("Python exception text is reduced to its message", {
  msg <- paste0(
    "pykd.errors.DataError: The train table has no column 'labl'; ",
    "its columns are 'image_id', 'label'.\n",
    "Run `reticulate::py_last_error()` for details."
  )
  info <- rkd:::parse_python_message(msg)
  expect_equal(info$type, "pykd.errors.DataError")
  expect_equal(
    rkd:::clean_python_message(info$message),
    "The train table has no column 'labl'; its columns are 'image_id', 'label'."
  )
  expect_null(rkd:::parse_python_message("an R error"))
  expect_equal(rkd:::clean_python_message("'missing key'"), "missing key")
})

test_that("Python errors become cli errors with the same message", {
  info <- list(type = "DataError", message = "3 of 10 image files are missing: {a}.")
  expect_snapshot(error = TRUE, rkd:::abort_python_error(info))
  err <- expect_error(rkd:::abort_python_error(info), class = "rkd_data_error")
  expect_equal(err$python_type, "DataError")
  info <- list(type = "NonFiniteLossError", message = "The loss became NaN.")
  expect_snapshot(error = TRUE, rkd:::abort_python_error(info))
})
