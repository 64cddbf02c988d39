# Installing the Python side (pykd in a virtualenv) and finding it again.

#' Install the Python side of rkd
#'
#' Creates (or reuses) a Python virtual environment and installs `pykd`
#' and its dependencies (TensorFlow, pandas, Pillow) into it with `pip`.
#' `pykd` is not on PyPI, so `pykd` must name a source checkout or a pip
#' requirement (for example a wheel file or a `git+` URL).
#'
#' After installing, restart R: `library(rkd)` then picks this environment
#' up by itself unless `RETICULATE_PYTHON` points elsewhere.
#'
#' @param pykd A path to a `pykd` source checkout (the folder holding its
#'   `pyproject.toml`) or any pip requirement specification. Defaults to the
#'   environment variable `RKD_PYKD_SOURCE`.
#' @param envname Name of (or path to) the virtual environment. Defaults to
#'   the option `rkd.envname`, else `"r-rkd"`.
#' @param python Python executable used to create the environment, or
#'   `NULL` for `reticulate`'s default.
#' @param tensorflow Which TensorFlow build to install with `pykd`: `"cpu"`,
#'   `"gpu"` (CUDA), `"auto"` (`"gpu"` when `nvidia-smi` finds a GPU, else
#'   `"cpu"`) or `"none"` (keep whatever the environment has).
#' @param extra_packages Further pip requirements to install alongside.
#' @param force If `TRUE`, delete and recreate an existing environment.
#' @return The path to the environment's Python, invisibly.
#' @seealso [rkd_available()]
#' @export
#' @examples
#' \donttest{
#' # Installs only where rkd does not find pykd yet and RKD_PYKD_SOURCE names
#' # a pykd source checkout (installing downloads TensorFlow from PyPI);
#' # for example install_rkd(pykd = "~/src/rkd")
#' if (!rkd_available() && nzchar(Sys.getenv("RKD_PYKD_SOURCE"))) {
#'   install_rkd()
#' }
#' }
install_rkd <- function(pykd = Sys.getenv("RKD_PYKD_SOURCE"),
                        envname = rkd_envname(),
                        python = NULL,
                        tensorflow = c("auto", "cpu", "gpu", "none"),
                        extra_packages = NULL,
                        force = FALSE) {
  tensorflow <- match.arg(tensorflow)
  spec <- resolve_pykd_spec(pykd)
  check_string(envname, "envname")
  if (tensorflow == "auto") {
    tensorflow <- if (has_nvidia_gpu()) "gpu" else "cpu"
  }
  packages <- pykd_requirements(spec, tensorflow)
  if (isTRUE(force) && reticulate::virtualenv_exists(envname)) {
    reticulate::virtualenv_remove(envname, confirm = FALSE)
  }
  if (!reticulate::virtualenv_exists(envname)) {
    cli::cli_alert_info("Creating virtual environment {.val {envname}}.")
    if (is.null(python)) {
      reticulate::virtualenv_create(envname)
    } else {
      reticulate::virtualenv_create(envname, python = python)
    }
  }
  cli::cli_alert_info("Installing {.pkg pykd} from {.path {spec}}.")
  reticulate::virtualenv_install(
    envname,
    packages = c(packages, extra_packages),
    ignore_installed = FALSE
  )
  py <- reticulate::virtualenv_python(envname)
  cli::cli_alert_success("Installed {.pkg pykd} into {.path {py}}.")
  cli::cli_bullets(c(
    "i" = "Restart R; {.code library(rkd)} will then use this environment.",
    "i" = "Or set {.envvar RETICULATE_PYTHON} to {.path {py}}."
  ))
  invisible(py)
}

# pip requirements for pykd with the chosen TensorFlow build: a source
# folder gets pykd's own extra ("path[cpu]"), any other spec a separate
# TensorFlow requirement.
pykd_requirements <- function(spec, tensorflow) {
  if (tensorflow == "none") {
    return(spec)
  }
  if (dir.exists(spec)) {
    return(paste0(spec, "[", tensorflow, "]"))
  }
  c(spec, if (tensorflow == "gpu") "tensorflow[and-cuda]>=2.16" else "tensorflow-cpu>=2.16")
}

has_nvidia_gpu <- function() {
  smi <- Sys.which("nvidia-smi")
  if (!nzchar(smi)) {
    return(FALSE)
  }
  status <- suppressWarnings(system2(smi, "-L", stdout = FALSE, stderr = FALSE))
  identical(status, 0L)
}

rkd_envname <- function() {
  getOption("rkd.envname", "r-rkd")
}

resolve_pykd_spec <- function(pykd) {
  if (is.null(pykd) || length(pykd) != 1 || is.na(pykd) || !nzchar(pykd)) {
    cli::cli_abort(c(
      "x" = "No {.pkg pykd} source given: {.pkg pykd} is not on PyPI.",
      "i" = "Pass {.arg pykd}: a path to a {.pkg pykd} source checkout or a pip requirement.",
      "i" = "Or set the environment variable {.envvar RKD_PYKD_SOURCE} to one."
    ), call = NULL, class = c("rkd_input_error", "rkd_error"))
  }
  path <- path.expand(pykd)
  if (dir.exists(path) || file.exists(path)) {
    return(normalizePath(path))
  }
  if (grepl("^(\\.|/|~)", pykd)) {
    cli::cli_abort(c(
      "x" = "{.path {pykd}} does not exist.",
      "i" = "Give the folder of a {.pkg pykd} checkout (the one holding {.file pyproject.toml})."
    ), call = NULL, class = c("rkd_input_error", "rkd_error"))
  }
  pykd
}

# Use the environment made by install_rkd() unless the user chose a Python.
use_rkd_env <- function() {
  if (nzchar(Sys.getenv("RETICULATE_PYTHON"))) {
    return(invisible(FALSE))
  }
  if (reticulate::py_available(initialize = FALSE)) {
    return(invisible(FALSE))
  }
  envname <- rkd_envname()
  exists <- tryCatch(reticulate::virtualenv_exists(envname),
                     error = function(e) FALSE)
  if (isTRUE(exists)) {
    try(reticulate::use_virtualenv(envname, required = FALSE), silent = TRUE)
  }
  invisible(isTRUE(exists))
}
