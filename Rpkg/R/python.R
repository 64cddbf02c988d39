# Lazy access to the Python package pykd, its installation, and the
# translation of Python exceptions into R errors.

.rkd <- new.env(parent = emptyenv())
.rkd$pykd <- NULL
.rkd$checked <- FALSE

#' Is the Python side of rkd usable?
#'
#' Checks, without failing, whether Python can be found and the Python
#' package `pykd` can be imported. The first call may start Python; after
#' that, `reticulate` keeps using the same Python for the rest of the
#' session.
#'
#' rkd uses the Python that `reticulate` chooses: `RETICULATE_PYTHON`
#' when it is set, otherwise the virtual environment made by
#' [install_rkd()] when it exists, otherwise `reticulate`'s usual search.
#'
#' @param initialize If `FALSE`, only report whether Python is already
#'   running with `pykd` importable, without starting Python.
#' @return `TRUE` or `FALSE`.
#' @seealso [install_rkd()]
#' @export
#' @examples
#' rkd_available()
rkd_available <- function(initialize = TRUE) {
  if (!isTRUE(initialize) && !reticulate::py_available(initialize = FALSE)) {
    return(FALSE)
  }
  ok <- tryCatch(
    {
      set_tf_log_level()
      reticulate::py_module_available("pykd")
    },
    error = function(e) FALSE
  )
  isTRUE(ok)
}

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
#' \dontrun{
#' install_rkd(pykd = "~/src/rkd/pykd")
#' Sys.setenv(RKD_PYKD_SOURCE = "~/src/rkd/pykd")
#' install_rkd()
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

set_tf_log_level <- function() {
  if (!nzchar(Sys.getenv("TF_CPP_MIN_LOG_LEVEL"))) {
    Sys.setenv(TF_CPP_MIN_LOG_LEVEL = "2")
  }
}

abort_no_pykd <- function(python = NULL, call = NULL,
                          env_python = Sys.getenv("RETICULATE_PYTHON")) {
  where <- if (!is.null(python)) {
    "Python in use: {.path {python}}."
  } else if (nzchar(env_python) && !file.exists(env_python)) {
    "{.envvar RETICULATE_PYTHON} is {.path {env_python}}, which does not exist."
  } else {
    "No Python was found."
  }
  cli::cli_abort(c(
    "x" = "The Python package {.pkg pykd} is not available.",
    "i" = where,
    "i" = "Install it with {.run rkd::install_rkd(pykd = \"path/to/pykd\")} and restart R,",
    " " = "or set {.envvar RETICULATE_PYTHON} to a Python that has {.pkg pykd}."
  ), call = call, class = c("rkd_no_pykd", "rkd_error"))
}

current_python <- function() {
  if (!reticulate::py_available(initialize = FALSE)) {
    return(NULL)
  }
  tryCatch(reticulate::py_config()$python, error = function(e) NULL)
}

# The pykd module, imported on first use. Fails with a cli error saying how
# to install pykd when it cannot be imported.
pykd <- function() {
  if (!isTRUE(.rkd$checked)) {
    if (!rkd_available()) {
      abort_no_pykd(current_python())
    }
    .rkd$checked <- TRUE
  }
  if (is.null(.rkd$pykd)) {
    set_tf_log_level()
    .rkd$pykd <- reticulate::import("pykd", delay_load = TRUE)
  }
  .rkd$pykd
}

# Does the installed pykd have an attribute (a function added later)?
pykd_has <- function(...) {
  obj <- pykd()
  for (name in c(...)) {
    if (!reticulate::py_has_attr(obj, name)) {
      return(FALSE)
    }
    obj <- reticulate::py_get_attr(obj, name)
  }
  TRUE
}

# Evaluate `expr` (which calls into Python) and turn a Python exception into
# an R cli error carrying the exception's own message, without the Python
# class prefix or traceback. `call` is the frame of the user-facing function.
with_py_errors <- function(expr, call = parent.frame()) {
  tryCatch(expr, error = function(e) {
    if (inherits(e, "rkd_error")) {
      stop(e)
    }
    info <- python_error_info(e)
    if (is.null(info)) {
      stop(e)
    }
    abort_python_error(info, call = call)
  })
}

abort_python_error <- function(info, call = NULL) {
  lines <- strsplit(info$message, "\n", fixed = TRUE)[[1]]
  lines <- lines[nzchar(trimws(lines))]
  if (length(lines) == 0) {
    lines <- info$type
  }
  bullets <- escape_braces(lines)
  names(bullets) <- c("x", rep(" ", length(lines) - 1))
  data_error <- info$type %in% c("DataError", "ValueError")
  if (!data_error) {
    type <- info$type
    bullets <- c(bullets, "i" = "Raised by Python as {.cls {type}}.")
  }
  cli::cli_abort(
    bullets,
    call = call,
    class = c(if (data_error) "rkd_data_error", "rkd_python_error", "rkd_error"),
    python_type = info$type
  )
}

escape_braces <- function(x) {
  gsub("}", "}}", gsub("{", "{{", x, fixed = TRUE), fixed = TRUE)
}

# Type and message of the Python exception behind R error `e`, or NULL when
# `e` did not come from Python.
python_error_info <- function(e) {
  msg <- conditionMessage(e)
  last <- tryCatch(reticulate::py_last_error(), error = function(err) NULL)
  type <- NULL
  value <- NULL
  if (!is.null(last) && !is.null(last$type) && !is.null(last$value)) {
    first_value_line <- strsplit(as.character(last$value), "\n")[[1]][1]
    if (is.na(first_value_line) || grepl(first_value_line, msg, fixed = TRUE)) {
      type <- as.character(last$type)
      value <- as.character(last$value)
    }
  }
  if (is.null(type)) {
    parsed <- parse_python_message(msg)
    if (is.null(parsed)) {
      return(NULL)
    }
    type <- parsed$type
    value <- parsed$message
  }
  type <- sub("^.*\\.", "", type)
  list(type = type, message = clean_python_message(value))
}

parse_python_message <- function(msg) {
  lines <- strsplit(msg, "\n", fixed = TRUE)[[1]]
  pattern <- "^\\s*([A-Za-z_][A-Za-z0-9_.]*(Error|Exception|Interrupt|Exit)):\\s?(.*)$"
  hit <- grep(pattern, lines)
  if (length(hit) == 0) {
    return(NULL)
  }
  first <- hit[1]
  type <- sub(pattern, "\\1", lines[first])
  rest <- c(sub(pattern, "\\3", lines[first]), lines[-seq_len(first)])
  list(type = type, message = paste(rest, collapse = "\n"))
}

clean_python_message <- function(x) {
  x <- paste(x, collapse = "\n")
  x <- sub("\nRun `reticulate::py_last_error\\(\\)` for details\\.?\\s*$", "", x)
  x <- sub("\n\\s*Detailed traceback:.*$", "", x)
  x <- sub("\nTraceback \\(most recent call last\\):.*$", "", x)
  # str(KeyError("x")) and friends keep their quotes; drop a matching pair
  x <- sub("^'(.*)'$", "\\1", x)
  trimws(x)
}
