# Argument checks run in R before Python is called. Each failure is a cli
# error of class "rkd_input_error" naming the problem (x) and the fix (i).

abort_input <- function(bullets, call, .envir = parent.frame()) {
  cli::cli_abort(
    bullets,
    call = call,
    class = c("rkd_input_error", "rkd_error"),
    .envir = .envir
  )
}

is_whole <- function(x) {
  is.numeric(x) && all(is.finite(x)) && all(abs(x - round(x)) < 1e-8)
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
  if (is.array(x)) {
    return("an array")
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
      "i" = "Give one name, for example {.code {arg} = \"image_id\"}."
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

check_number <- function(x, arg, call = parent.frame(), allow_null = FALSE) {
  if (is.null(x) && allow_null) {
    return(invisible(x))
  }
  if (!is.numeric(x) || length(x) != 1 || !is.finite(x)) {
    shown <- describe_value(x)
    abort_input(c(
      "x" = "{.arg {arg}} must be a single finite number, not {shown}.",
      "i" = "Give one number, for example {.code {arg} = 1}."
    ), call = call)
  }
  invisible(x)
}

# A whole number >= 1 (batch size, epochs, steps); NULL allowed when
# `allow_null`.
check_count <- function(x, arg, call = parent.frame(), allow_null = FALSE) {
  if (is.null(x) && allow_null) {
    return(invisible(x))
  }
  if (!is.numeric(x) || length(x) != 1 || !is_whole(x) || x < 1) {
    shown <- describe_value(x)
    abort_input(c(
      "x" = "{.arg {arg}} must be a whole number of at least 1, not {shown}.",
      "i" = if (allow_null) {
        "Give a positive whole number, or {.code NULL} for one pass over the table."
      } else {
        "Give a positive whole number, for example {.code {arg} = 8}."
      }
    ), call = call)
  }
  invisible(x)
}

check_alpha <- function(alpha, call = parent.frame()) {
  check_number(alpha, "alpha", call = call)
  if (alpha < 0 || alpha > 1) {
    abort_input(c(
      "x" = "{.arg alpha} must be between 0 and 1, not {alpha}.",
      "i" = "{.arg alpha} weights the hard-label loss: 1 learns from the labels only, 0 from the teacher only (the default is 0.1)."
    ), call = call)
  }
  invisible(alpha)
}

check_temperature <- function(temperature, call = parent.frame()) {
  check_number(temperature, "temperature", call = call)
  if (temperature <= 0) {
    abort_input(c(
      "x" = "{.arg temperature} must be greater than 0, not {temperature}.",
      "i" = "Use a temperature of 1 or more to soften the teacher's predictions (the default is 3)."
    ), call = call)
  }
  invisible(temperature)
}

check_image_size <- function(image_size, call = parent.frame()) {
  if (is.null(image_size)) {
    return(invisible(NULL))
  }
  if (!is.numeric(image_size) || length(image_size) != 2) {
    shown <- describe_value(image_size)
    abort_input(c(
      "x" = "{.arg image_size} must be two numbers, height and width, not {shown}.",
      "i" = "For example {.code image_size = c(224, 224)}, or {.code NULL} to use the student's input size."
    ), call = call)
  }
  if (!is_whole(image_size) || any(image_size < 1)) {
    shown <- paste(format(image_size), collapse = ", ")
    abort_input(c(
      "x" = "{.arg image_size} must be two positive whole numbers, not {shown}.",
      "i" = "For example {.code image_size = c(224, 224)}."
    ), call = call)
  }
  invisible(image_size)
}

check_rescale <- function(rescale, call = parent.frame()) {
  if (is.null(rescale)) {
    return(invisible(NULL))
  }
  check_number(rescale, "rescale", call = call)
  if (rescale == 0) {
    abort_input(c(
      "x" = "{.arg rescale} must not be 0.",
      "i" = "Pixels are multiplied by {.arg rescale}; use {.code 1/255} to scale them to [0, 1], or {.code NULL} to leave them."
    ), call = call)
  }
  invisible(rescale)
}

check_seed <- function(seed, call = parent.frame()) {
  if (is.null(seed)) {
    return(invisible(NULL))
  }
  if (!is.numeric(seed) || length(seed) != 1 || !is_whole(seed) || seed < 0) {
    shown <- describe_value(seed)
    abort_input(c(
      "x" = "{.arg seed} must be a single non-negative whole number, not {shown}.",
      "i" = "For example {.code seed = 42}, or {.code NULL} for a random start."
    ), call = call)
  }
  invisible(seed)
}

check_directory <- function(directory, call = parent.frame()) {
  check_string(directory, "directory", call = call)
  if (!dir.exists(directory)) {
    abort_input(c(
      "x" = "The image folder {.path {directory}} does not exist.",
      "i" = "Set {.arg directory} to the folder that holds the image files."
    ), call = call)
  }
  invisible(directory)
}

# Read a CSV path or accept a data frame (tibbles included); returns a plain
# data.frame.
check_table <- function(x, arg, call = parent.frame()) {
  if (is.character(x) && length(x) == 1 && !is.na(x)) {
    if (!file.exists(x)) {
      abort_input(c(
        "x" = "The file {.path {x}} given as {.arg {arg}} does not exist.",
        "i" = "Give a data frame, or the path of a CSV file with one row per image."
      ), call = call)
    }
    x <- utils::read.csv(x, stringsAsFactors = FALSE, check.names = FALSE,
                         na.strings = c("", "NA"))
  }
  if (!is.data.frame(x)) {
    shown <- describe_value(x)
    abort_input(c(
      "x" = "{.arg {arg}} must be a data frame or the path of a CSV file, not {shown}.",
      "i" = "Read the table first, for example with {.code read.csv(\"train.csv\")}."
    ), call = call)
  }
  x <- as.data.frame(x, stringsAsFactors = FALSE)
  if (nrow(x) == 0) {
    abort_input(c(
      "x" = "{.arg {arg}} has no rows.",
      "i" = "Give a table with one row per image."
    ), call = call)
  }
  x
}

check_columns <- function(df, columns, arg, call = parent.frame(),
                          set = c("x_col", "y_col")) {
  missing <- setdiff(columns, names(df))
  if (length(missing) > 0) {
    present <- names(df)
    abort_input(c(
      "x" = "{.arg {arg}} has no column{cli::qty(length(missing))}{?s} {.val {missing}}.",
      "i" = "Its columns are {.val {present}}; set {.arg {set}} to match."
    ), call = call)
  }
  invisible(df)
}

# A vector shown by cli as its first few elements and the last one.
first_few <- function(x, n = 5) {
  cli::cli_vec(x, list("vec-trunc" = n))
}

check_ids <- function(df, x_col, arg, call = parent.frame()) {
  ids <- df[[x_col]]
  if (is.factor(ids)) {
    ids <- as.character(ids)
  }
  if (!is.character(ids)) {
    type <- class(ids)[1]
    abort_input(c(
      "x" = "Column {.val {x_col}} of {.arg {arg}} must hold file names (character), not {type} values.",
      "i" = "Set {.arg x_col} to the column of image file names."
    ), call = call)
  }
  empty <- which(is.na(ids) | !nzchar(ids))
  if (length(empty) > 0) {
    n <- length(empty)
    rows <- first_few(empty)
    abort_input(c(
      "x" = "{n} row{?s} of {.arg {arg}} {cli::qty(n)}{?has/have} no file name in column {.val {x_col}}: {cli::qty(n)}row{?s} {rows}.",
      "i" = "Remove those rows or fill in their file names."
    ), call = call)
  }
  dup <- unique(ids[duplicated(ids)])
  if (length(dup) > 0) {
    n <- length(dup)
    shown <- first_few(dup)
    abort_input(c(
      "x" = "{.arg {arg}} lists {n} image{?s} more than once in column {.val {x_col}}: {.file {shown}}.",
      "i" = "Keep one row per image, for example {.code df[!duplicated(df${x_col}), ]}."
    ), call = call)
  }
  invisible(ids)
}

check_images <- function(ids, directory, arg, call = parent.frame()) {
  found <- file.exists(file.path(directory, ids))
  if (!all(found)) {
    missing <- ids[!found]
    n <- length(missing)
    total <- length(ids)
    shown <- first_few(missing)
    abort_input(c(
      "x" = "{n} of {total} image file{?s} listed in {.arg {arg}} {cli::qty(n)}{?is/are} not in {.path {directory}}: {.file {shown}}.",
      "i" = "Check {.arg directory} and {.arg x_col}, or drop the rows whose images are missing."
    ), call = call)
  }
  invisible(ids)
}

# Labels of a single label column are 0-based class ids (numbers, or text
# that reads as a number) or, when `classes` is given, class names.
check_label_column <- function(df, y_col, classes, arg, call = parent.frame()) {
  labels <- df[[y_col]]
  if (is.factor(labels)) {
    labels <- as.character(labels)
  }
  if (!is.character(labels) && !is.numeric(labels) && !is.logical(labels)) {
    type <- class(labels)[1]
    abort_input(c(
      "x" = "Column {.val {y_col}} of {.arg {arg}} must hold class ids or class names, not {type} values.",
      "i" = "Give one label per row, or one-hot columns as a character vector {.arg y_col}."
    ), call = call)
  }
  values <- unique(labels[!is.na(labels)])
  if (is.character(values)) {
    values <- values[!trimws(values) %in% c("", "NA", "NaN", "nan", "None")]
  }
  ids <- suppressWarnings(as.numeric(values))
  named <- is.na(ids)
  if (any(named) && is.null(classes)) {
    shown <- first_few(values[named])
    abort_input(c(
      "x" = "Column {.val {y_col}} of {.arg {arg}} holds class names ({.val {shown}}) but {.arg classes} is not given.",
      "i" = "Give {.arg classes}, the class names in order, for example {.code classes = c(\"CBB\", \"CBSD\", \"CGM\", \"CMD\", \"Healthy\")}."
    ), call = call)
  }
  n_classes <- if (is.null(classes)) Inf else length(classes)
  ok <- ifelse(named, values %in% classes,
               abs(ids - round(ids)) < 1e-8 & ids >= 0 & ids < n_classes)
  ok[is.na(ok)] <- FALSE
  bad <- values[!ok]
  if (length(bad) > 0) {
    n <- length(bad)
    shown <- first_few(as.character(sort(bad)))
    k <- length(classes)
    fix <- if (is.null(classes)) {
      "Numeric labels are class ids counted from 0; fix the labels."
    } else if (any(is.na(suppressWarnings(as.numeric(bad))))) {
      "Labels must be names in {.arg classes} ({.val {classes}}) or class ids from 0 to {k - 1}; fix the labels or {.arg classes}."
    } else {
      "{.arg classes} has {k} name{?s}, so numeric labels must be whole numbers from 0 to {k - 1}; fix the labels or {.arg classes}."
    }
    abort_input(c(
      "x" = "{.arg {arg}} has {n} label{?s} in column {.val {y_col}} outside {.arg classes}: {.val {shown}}.",
      "i" = fix
    ), call = call)
  }
  invisible(labels)
}

check_one_hot <- function(df, y_col, classes, arg, call = parent.frame()) {
  if (anyDuplicated(y_col)) {
    dup <- unique(y_col[duplicated(y_col)])
    abort_input(c(
      "x" = "{.arg y_col} names {.val {dup}} more than once.",
      "i" = "Give each one-hot column once."
    ), call = call)
  }
  for (col in y_col) {
    values <- df[[col]]
    if (is.logical(values)) {
      values <- as.numeric(values)
    }
    if (!is.numeric(values)) {
      type <- class(values)[1]
      abort_input(c(
        "x" = "One-hot column {.val {col}} of {.arg {arg}} must be numeric 0/1, not {type}.",
        "i" = "Convert a label column with {.fn one_hot_labels}, or give it alone as {.arg y_col}."
      ), call = call)
    }
    odd <- unique(values[!is.na(values) & !values %in% c(0, 1)])
    if (length(odd) > 0) {
      shown <- first_few(format(sort(odd)))
      abort_input(c(
        "x" = "One-hot column {.val {col}} of {.arg {arg}} holds values other than 0 and 1: {shown}.",
        "i" = "Each one-hot column must be 1 for rows of its class and 0 otherwise."
      ), call = call)
    }
  }
  ones <- rowSums(as.matrix(df[y_col]) == 1, na.rm = TRUE)
  multi <- which(ones > 1)
  if (length(multi) > 0) {
    n <- length(multi)
    rows <- first_few(multi)
    abort_input(c(
      "x" = "{n} row{?s} of {.arg {arg}} {cli::qty(n)}{?has/have} more than one 1 among the one-hot columns: {cli::qty(n)}row{?s} {rows}.",
      "i" = "Each row names at most one class; a row of zeros marks an unlabeled image."
    ), call = call)
  }
  if (!is.null(classes) && (length(classes) != length(y_col) ||
      (setequal(classes, y_col) && !identical(classes, y_col)))) {
    abort_input(c(
      "x" = "{.arg classes} ({.val {classes}}) does not match the one-hot columns {.val {y_col}}.",
      "i" = "With one-hot labels the classes are the columns in order; leave {.code classes = NULL}."
    ), call = call)
  }
  invisible(df)
}

check_classes <- function(classes, call = parent.frame()) {
  if (is.null(classes)) {
    return(invisible(NULL))
  }
  if (is.factor(classes)) {
    classes <- levels(classes)
  }
  if (!is.atomic(classes) || length(classes) < 2 || anyNA(classes)) {
    shown <- describe_value(classes)
    abort_input(c(
      "x" = "{.arg classes} must be a vector of at least two class names, not {shown}.",
      "i" = "For example {.code classes = c(\"CBB\", \"CBSD\", \"CGM\", \"CMD\", \"Healthy\")}."
    ), call = call)
  }
  classes <- as.character(classes)
  if (anyDuplicated(classes)) {
    dup <- unique(classes[duplicated(classes)])
    abort_input(c(
      "x" = "{.arg classes} names {.val {dup}} more than once.",
      "i" = "Give each class once."
    ), call = call)
  }
  classes
}

check_y_col <- function(y_col, call = parent.frame()) {
  if (!is.character(y_col) || length(y_col) < 1 || anyNA(y_col) ||
      !all(nzchar(y_col))) {
    shown <- describe_value(y_col)
    abort_input(c(
      "x" = "{.arg y_col} must be a column name or a character vector of one-hot column names, not {shown}.",
      "i" = "For example {.code y_col = \"label\"} or {.code y_col = c(\"CBB\", \"CBSD\", \"CGM\", \"CMD\", \"Healthy\")}."
    ), call = call)
  }
  invisible(y_col)
}

# All checks of one labelled table; returns the table as a data.frame with
# attribute "y_col", the label columns actually used. With `switch_layout`
# (the validation table), a table without `y_col` may use the other label
# layout, as pykd does: one-hot columns named by `classes` instead of a label
# column, or a "label" column instead of one-hot columns.
check_labelled_table <- function(x, arg, directory, x_col, y_col, classes,
                                 call = parent.frame(),
                                 switch_layout = FALSE) {
  df <- check_table(x, arg, call = call)
  if (switch_layout) {
    y_col <- label_layout(df, y_col, classes)
  }
  check_columns(df, c(x_col, y_col), arg, call = call)
  ids <- check_ids(df, x_col, arg, call = call)
  if (length(y_col) == 1) {
    check_label_column(df, y_col, classes, arg, call = call)
  } else {
    check_one_hot(df, y_col, classes, arg, call = call)
  }
  check_images(ids, directory, arg, call = call)
  attr(df, "y_col") <- y_col
  df
}

label_layout <- function(df, y_col, classes) {
  if (all(y_col %in% names(df))) {
    return(y_col)
  }
  if (length(y_col) == 1 && !is.null(classes) && all(classes %in% names(df))) {
    return(classes)
  }
  if (length(y_col) > 1 && "label" %in% names(df)) {
    return("label")
  }
  y_col
}
