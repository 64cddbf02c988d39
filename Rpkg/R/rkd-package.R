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
  # Python starts, and pykd is imported, on the first call that needs it
  # (see pykd()).
  use_rkd_env()
  invisible()
}
