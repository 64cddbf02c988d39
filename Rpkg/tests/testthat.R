library(testthat)
library(rkd)

# rkd is not a CRAN package: run the snapshot tests of its error messages
# under R CMD check too, unless NOT_CRAN is set explicitly.
if (!nzchar(Sys.getenv("NOT_CRAN"))) {
  Sys.setenv(NOT_CRAN = "true")
}

test_check("rkd")
