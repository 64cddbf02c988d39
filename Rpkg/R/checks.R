# The few checks R makes itself, all about R's side of the interface: R
# types pykd never sees (a data frame or a CSV path as a table, a function to
# build teachers), that the options in `...` are named, and the arguments of
# helpers that exist only in R (verbose, overwrite, drop, label_col, dir). Every rule
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

# The options in `...`, by their Python names, as plain Python values. R
# keeps no list of them: `entry` names the pykd function they go to, pykd
# refuses a name it does not take (suggesting the one meant: batchSize ->
# batch_size) and says how R converts each (pykd.run.options.for_r()).
check_options <- function(options, entry, call) {
  if (length(options) == 0) {
    return(list())
  }
  given <- names(options)
  if (is.null(given) || any(!nzchar(given))) {
    abort_input(c(
      "x" = "Every argument in {.arg ...} must be named.",
      "i" = "See {.run rkd::rkd_options(\"{entry}\")} for the options."
    ), call = call)
  }
  declared <- pykd_module("run.options")
  r_function <- if (exists(entry, envir = asNamespace("rkd"), inherits = FALSE)) entry else paste0("rkd_", entry)
  py_call(declared$check_names, entry, as.list(given), r_function, .call = call)
  conversions <- py_call(declared$for_r, entry, .call = call)
  converted <- lapply(given, function(name) {
    option_value(options[[name]], conversions[[name]], name, call)
  })
  stats::setNames(converted, given)
}

# One option's value as Python takes it, by how pykd says R converts it.
option_value <- function(value, conversion, name, call) {
  if (is.null(value)) {
    return(NULL)
  }
  switch(conversion,
    integer = as_nullable_integer(value),
    path = py_path(value),
    table = table_arg(value, name, call = call),
    callbacks = if (is_py_object(value)) list(value) else py_value(value),
    named = if (is.atomic(value) && !is.null(names(value))) py_value(as.list(value)) else py_value(value),
    py_value(value)
  )
}
