# The R side of the bridge to the Python package pykd: one lazy import, one
# version check, and Python exceptions turned into R conditions from the
# exception's class and fields (pykd.core.bridge keeps them), never from its text.

.rkd <- new.env(parent = emptyenv())

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
#' # Without starting Python: is it running already, with pykd?
#' rkd_available(initialize = FALSE)
#' \donttest{
#' # Starts Python if needed and imports pykd
#' rkd_available()
#' }
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

set_tf_log_level <- function() {
  if (!nzchar(Sys.getenv("TF_CPP_MIN_LOG_LEVEL"))) {
    Sys.setenv(TF_CPP_MIN_LOG_LEVEL = "2")
  }
}

abort_no_pykd <- function(python = NULL, call = NULL,
                          env_python = Sys.getenv("RETICULATE_PYTHON"),
                          reason = NULL) {
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
    "i" = if (!is.null(reason)) "Importing it failed: {reason}",
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

# The pykd module, imported on first use; fails with a cli error saying how
# to install pykd when it cannot be imported, or how to reinstall it when its
# version is not rkd's. `expected` is the version rkd was built with, read
# from the loaded namespace: packageVersion() reads the installed DESCRIPTION,
# which a reinstall under a running session replaces.
pykd <- function(expected = getNamespaceVersion("rkd")) {
  if (is.null(.rkd$pykd)) {
    if (!rkd_available()) {
      abort_no_pykd(current_python())
    }
    set_tf_log_level()
    module <- tryCatch(reticulate::import("pykd"), error = function(e) {
      abort_no_pykd(current_python(), reason = strsplit(conditionMessage(e), "\n")[[1]][1])
    })
    .rkd$version <- as.character(reticulate::py_get_attr(module, "__version__"))
    .rkd$bridge <- reticulate::import("pykd.core.bridge")
    .rkd$bridge_raw <- reticulate::import("pykd.core.bridge", convert = FALSE)
    # Ctrl-C during training must reach pykd as a KeyboardInterrupt, even
    # when it lands in R code that Python calls back.
    .rkd$bridge$handle_interrupts()
    .rkd$pykd <- module
  }
  check_pykd_version(.rkd$version, expected)
  .rkd$pykd
}

check_pykd_version <- function(found, expected) {
  expected <- as.character(expected)
  same <- tryCatch(package_version(found) == package_version(expected),
                   error = function(e) FALSE)
  if (isTRUE(same)) {
    return(invisible(found))
  }
  python <- current_python()
  cli::cli_abort(c(
    "x" = "rkd {expected} needs pykd {expected}, but the Python in use has pykd {found}.",
    "i" = if (!is.null(python)) "Python in use: {.path {python}}.",
    "i" = "Reinstall pykd from the checkout rkd came from with {.run rkd::install_rkd(pykd = \"path/to/pykd\", force = TRUE)}, then restart R."
  ), call = NULL, class = c("rkd_version_mismatch", "rkd_error"),
  pykd_version = found, rkd_version = expected)
}

# A pykd submodule ("run.options", "data.labels", ...), without converting results
# when `convert = FALSE`.
pykd_module <- function(name, convert = TRUE) {
  pykd()
  reticulate::import(paste0("pykd.", name), convert = convert)
}

# fun(...) in Python through pykd.core.bridge.call, which keeps the exception and
# the warnings. The call's Python warnings become R warnings (class
# rkd_warning), raised once the call has ended however it ended. A Python
# exception becomes a cli error built from its class and fields. An interrupt
# (Ctrl-C, a KeyboardInterrupt in Python) stays an interrupt, unless
# `.on_interrupt` is given: then its result is the call's, from
# `.on_interrupt(info)` with bridge.last_error("r") as `info` (which holds the
# finished epochs of an interrupted run as `history`). An interrupt R takes
# with no Python error on record (Ctrl-C just before or after Python ran)
# stays an interrupt. `.call` is the
# user-facing function's frame; with `.convert = FALSE` the result stays a
# Python object (for results R must not convert, such as NumPy arrays and
# pandas frames).
py_call <- function(fun, ..., .call = parent.frame(), .convert = TRUE,
                    .on_interrupt = NULL) {
  pykd()
  bridge <- if (.convert) .rkd$bridge else .rkd$bridge_raw
  outcome <- tryCatch(
    list(value = bridge$call(fun, ...)),
    # reticulate turns a KeyboardInterrupt into an R interrupt or an R error.
    interrupt = function(cnd) list(interrupted = TRUE, info = last_python_error()),
    error = function(e) list(error = e, info = last_python_error())
  )
  raise_python_warnings(.call)
  info <- outcome$info
  if (identical(info$type, "KeyboardInterrupt")) {
    if (!is.null(.on_interrupt)) {
      return(.on_interrupt(info))
    }
    rlang::interrupt()
  }
  # Any other Python error is the answer, even as an interrupt: after a
  # Ctrl-C that R took itself, reticulate 1.28 turns the next Python error
  # into an interrupt.
  if (!is.null(info)) {
    abort_python(info, call = .call)
  }
  if (isTRUE(outcome$interrupted)) {
    rlang::interrupt()
  }
  if (!is.null(outcome$error)) {
    stop(outcome$error)
  }
  outcome$value
}

last_python_error <- function() {
  tryCatch(.rkd$bridge$last_error("r"), error = function(err) NULL)
}

# The Python warnings of the last bridge call, each as an R warning of class
# rkd_warning with pykd's text (pykd writes them for Python and R alike).
raise_python_warnings <- function(call = NULL) {
  messages <- tryCatch(unlist(.rkd$bridge$last_warnings()),
                       error = function(err) NULL)
  for (message in unique(messages)) {
    cli::cli_warn(c("!" = escape_braces(message)), call = call,
                  class = c("rkd_python_warning", "rkd_warning"))
  }
  invisible(messages)
}

# An R function for Python to call back (a progress hook) that passes Ctrl-C
# on to Python as a KeyboardInterrupt. An interrupt that R takes while its
# own code runs inside a Python call would reach Python as a RuntimeError,
# and pykd keeps the finished epochs of an interrupted run only for a
# KeyboardInterrupt. (Under reticulate 1.28, bridge.handle_interrupts()
# raises it first, for any R function Python calls back; here R still ends
# the hook's own code cleanly.)
interruptible <- function(fun) {
  hook <- function(...) {
    tryCatch({
      fun(...)
      NULL
    }, interrupt = function(cnd) "rkd-interrupted")
  }
  # Python calls `hook` with its arguments converted to R values.
  .rkd$bridge_raw$raising_interrupts(reticulate::r_to_py(hook, convert = TRUE))
}

# list(type, data_error, problem, fix) from pykd.core.bridge.last_error("r") as a
# cli error: x = the problem, i = the fix. A DataError is the user's to fix
# (class rkd_data_error); any other exception is rkd_python_error and names
# its Python class.
abort_python <- function(info, call = NULL) {
  if (identical(info$type, "KeyboardInterrupt")) {
    rlang::interrupt()
  }
  lines <- strsplit(paste(info$problem, collapse = "\n"), "\n", fixed = TRUE)[[1]]
  lines <- lines[nzchar(trimws(lines))]
  if (length(lines) == 0) {
    lines <- info$type
  }
  bullets <- escape_braces(lines)
  names(bullets) <- c("x", rep(" ", length(lines) - 1))
  if (!is.null(info$fix)) {
    bullets <- c(bullets, "i" = escape_braces(info$fix))
  }
  data_error <- isTRUE(info$data_error)
  type <- info$type
  if (!data_error) {
    bullets <- c(bullets, "i" = "Raised by Python as {.cls {type}}.")
  }
  cli::cli_abort(
    bullets,
    call = call,
    class = c(if (data_error) "rkd_data_error" else "rkd_python_error", "rkd_error"),
    python_type = type
  )
}

escape_braces <- function(x) {
  gsub("}", "}}", gsub("{", "{{", x, fixed = TRUE), fixed = TRUE)
}
