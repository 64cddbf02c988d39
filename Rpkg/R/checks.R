# The few checks R makes itself, all about R's side of the interface: R
# types pykd never sees (a data frame or a CSV path as a table, a function to
# build teachers), the names in `...`, and the arguments of helpers that
# exist only in R (verbose, overwrite, drop, label_col, dir). Every rule
# about tables, labels, classes, images, models and settings is pykd's; its
# errors arrive through py_call(). Each failure here is a cli error of class
# "rkd_input_error" naming the problem (x) and the fix (i).

abort_input <- function(bullets, call, .envir = parent.frame()) {
  cli::cli_abort(
    bullets,
    call = call,
    class = c("rkd_input_error", "rkd_error"),
    .envir = .envir
  )
}

describe_value <- function(x) {
  if (is.null(x)) {
    return("NULL")
  }
  if (is.atomic(x) && length(x) == 1) {
    return(if (is.character(x)) paste0("\"", x, "\"") else format(x))
  }
  if (is.matrix(x)) {
    return("a matrix")
  }
  if (is.atomic(x)) {
    return(paste0("a ", class(x)[1], " vector of length ", length(x)))
  }
  paste0("an object of class ", class(x)[1])
}

check_string <- function(x, arg, call = parent.frame()) {
  if (!is.character(x) || length(x) != 1 || is.na(x) || !nzchar(x)) {
    shown <- describe_value(x)
    abort_input(c(
      "x" = "{.arg {arg}} must be a single non-empty string, not {shown}.",
      "i" = "Give one name, for example {.code {arg} = \"label\"}."
    ), call = call)
  }
  invisible(x)
}

check_flag <- function(x, arg, call = parent.frame()) {
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    shown <- describe_value(x)
    abort_input(c(
      "x" = "{.arg {arg}} must be {.code TRUE} or {.code FALSE}, not {shown}.",
      "i" = "Set {.code {arg} = TRUE} or {.code {arg} = FALSE}."
    ), call = call)
  }
  invisible(x)
}

# A table argument: a data frame (tibbles included) goes to Python as a
# named list of columns, a CSV path as the path (pykd reads it).
table_arg <- function(x, arg, call = parent.frame()) {
  if (is.data.frame(x)) {
    return(table_to_py(x, arg = arg, call = call))
  }
  if (is.character(x) && length(x) == 1 && !is.na(x)) {
    return(path.expand(x))
  }
  shown <- describe_value(x)
  abort_input(c(
    "x" = "{.arg {arg}} must be a data frame or the path of a CSV file, not {shown}.",
    "i" = "Read the table first, for example with {.code read.csv(\"train.csv\")}."
  ), call = call)
}

# The options in `...`: named, and among the R function's own. Returns them
# as plain Python values.
check_options <- function(options, allowed, call) {
  if (length(options) == 0) {
    return(list())
  }
  given <- names(options)
  if (is.null(given) || any(!nzchar(given))) {
    abort_input(c(
      "x" = "Every argument in {.arg ...} must be named.",
      "i" = "Further options are {.val {allowed}}."
    ), call = call)
  }
  unknown <- setdiff(given, allowed)
  if (length(unknown) > 0) {
    abort_input(c(
      "x" = "Unknown option{cli::qty(length(unknown))}{?s} {.arg {unknown}}.",
      "i" = "Further options are {.val {allowed}}."
    ), call = call)
  }
  if (is_py_object(options$callbacks)) {
    options$callbacks <- list(options$callbacks)
  }
  for (name in intersect(given, c("cache_dir", "checkpoint_dir", "validation"))) {
    options[name] <- list(py_path(options[[name]]))
  }
  lapply(options, py_value)
}
