test_that("without pykd, rkd_available() is FALSE and pykd's users fail with rkd_no_pykd", {
  skip_on_cran()
  out <- run_fresh_r(c(
    "ex <- rkd_example_data(tempfile())",
    "cat('available:', rkd_available(), '\\n')",
    "err <- tryCatch(rkd_example_models(), error = function(e) e)",
    "cat('models:', class(err), '\\n')",
    "err <- tryCatch(distill('t.keras', 's.keras', ex$train, ex$directory), error = function(e) e)",
    "cat('distill:', class(err), '\\n')",
    "cat(conditionMessage(err), '\\n')"
  ), env = "RETICULATE_PYTHON=/no/such/python")
  out <- paste(out, collapse = "\n")
  expect_match(out, "available: FALSE")
  expect_match(out, "models: rkd_no_pykd rkd_error")
  expect_match(out, "distill: rkd_no_pykd rkd_error")
  expect_match(out, "/no/such/python.?, which does not exist")
  expect_match(out, "install_rkd", fixed = TRUE)
})

test_that("a missing pykd gives an error saying how to install it", {
  expect_snapshot(error = TRUE, rkd:::abort_no_pykd(NULL, env_python = ""))
  expect_snapshot(error = TRUE, rkd:::abort_no_pykd("/usr/bin/python3"))
  expect_snapshot(error = TRUE,
    rkd:::abort_no_pykd(NULL, env_python = "/no/such/python"))
})

test_that("pykd of another version than rkd is refused with a reinstall hint", {
  skip_if_no_pykd()
  # The pykd in use is rkd's own version ...
  version <- reticulate::py_to_r(reticulate::py_get_attr(rkd:::pykd(), "__version__"))
  expect_equal(version, as.character(utils::packageVersion("rkd")))
  # ... and any other version is refused: rkd expecting 0.0.9 stands in for
  # a pykd older than rkd.
  err <- catch_error(rkd:::pykd(expected = "0.0.9"))
  expect_s3_class(err, "rkd_version_mismatch")
  expect_equal(err$pykd_version, as.character(utils::packageVersion("rkd")))
  expect_equal(err$rkd_version, "0.0.9")
  expect_snapshot(
    error = TRUE,
    transform = function(x) gsub("pykd [0-9.]+\\.$", "pykd <version>.",
                                 gsub("'[^']*python[^']*'", "'<python>'", x)),
    rkd:::pykd(expected = "0.0.9")
  )
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

# Python functions that fail the ways pykd can.
raising <- function(code) {
  skip_if_no_pykd()
  rkd:::pykd()
  reticulate::py_run_string(paste0(
    "def rkd_test_raise():\n",
    "    from pykd.core.errors import DataError, Setting\n",
    "    ", code, "\n"
  ))
  reticulate::py$rkd_test_raise
}

test_that("a DataError becomes an rkd_data_error from its fields, values in R syntax", {
  fun <- raising(paste0(
    "raise DataError('image_size is {size} {not a value}; was {flag}, {none}.', ",
    "'Pass {skip}.', size=[228, 228], flag=True, none=None, ",
    "skip=Setting('on_bad_image', 'skip'))"
  ))
  err <- catch_error(rkd:::py_call(fun))
  expect_s3_class(err, "rkd_data_error")
  expect_false(inherits(err, "rkd_python_error"))
  expect_equal(err$python_type, "DataError")
  expect_equal(
    flat_message(err),
    "image_size is c(228, 228) {not a value}; was TRUE, NULL. Pass on_bad_image = \"skip\"."
  )
  expect_snapshot(error = TRUE, rkd:::py_call(fun))
})

test_that("other Python exceptions are rkd_python_error naming their class", {
  fun <- raising("raise FloatingPointError('The loss became {NaN}.\\nTraining stopped.')")
  err <- catch_error(rkd:::py_call(fun))
  expect_s3_class(err, "rkd_python_error")
  expect_s3_class(err, "rkd_error")
  expect_equal(err$python_type, "FloatingPointError")
  expect_snapshot(error = TRUE, rkd:::py_call(fun))
})

test_that("an interrupt in Python is an interrupt in R", {
  fun <- raising("raise KeyboardInterrupt()")
  got <- tryCatch(rkd:::py_call(fun), interrupt = function(cnd) "interrupt",
                  error = function(e) "error")
  expect_equal(got, "interrupt")
})

test_that("an R error raised while Python calls R keeps its message", {
  skip_if_no_pykd()
  err <- catch_error(rkd:::py_call(function() stop("from R")))
  expect_s3_class(err, "rkd_error")
  expect_match(conditionMessage(err), "from R")
})
