#' rkd: knowledge distillation for image classifiers
#'
#' Train a small image classifier from a larger one's softened predictions,
#' from a table of image files and labels. Start with [distill()]; see
#' [install_rkd()] for the Python side.
#'
#' @keywords internal
#' @importFrom rlang .data
"_PACKAGE"

.onLoad <- function(libname, pkgname) {
  use_rkd_env()
  .rkd$pykd <- reticulate::import(
    "pykd",
    delay_load = list(before_load = set_tf_log_level)
  )
  invisible()
}
