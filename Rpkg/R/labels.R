#' Turn a label column into one-hot columns
#'
#' Adds one 0/1 column per class to a table of images, as the Cassava
#' tutorial did by hand: the column named after a class is 1 on the rows of
#' that class and 0 elsewhere. A missing label (`NA`) gives a row of zeros,
#' which [distill()] treats as an unlabeled image that still learns from the
#' teacher.
#'
#' Numeric labels (or text that reads as a number) are class ids counted
#' from 0, so label `0` is `classes[1]`; other text labels are class names.
#' The labels are read by `pykd`'s own rules, the ones [distill()] applies
#' (so this needs Python): a label outside `classes` is an error of class
#' `rkd_data_error`.
#'
#' @param df A data frame (or tibble) with a label column.
#' @param label_col Name of the label column.
#' @param classes The class names in class-id order (a factor gives its
#'   levels); they become the new column names. `NULL` uses the levels of a
#'   factor label column, else the sorted distinct labels (as text).
#' @param drop If `TRUE`, remove the label column from the result.
#' @return `df` with one numeric 0/1 column per class added (same class as
#'   `df`, so a tibble stays a tibble).
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' labels <- data.frame(
#'   image_id = c("1000015157.jpg", "1000201771.jpg", "100042118.jpg"),
#'   label = c(0, 3, NA)
#' )
#' one_hot_labels(labels, classes = c("CBB", "CBSD", "CGM", "CMD", "Healthy"))
#' }
one_hot_labels <- function(df, label_col = "label", classes = NULL,
                           drop = FALSE) {
  call <- environment()
  # The R data frame in and out, and its columns, are R's side.
  if (!is.data.frame(df)) {
    shown <- describe_value(df)
    abort_input(c(
      "x" = "{.arg df} must be a data frame, not {shown}.",
      "i" = "Read the labels first, for example with {.code read.csv(\"train.csv\")}."
    ), call = call)
  }
  check_string(label_col, "label_col", call = call)
  if (!label_col %in% names(df)) {
    present <- names(df)
    abort_input(c(
      "x" = "{.arg df} has no column {.val {label_col}}.",
      "i" = "Its columns are {.val {present}}; set {.arg label_col} to the label column."
    ), call = call)
  }
  check_flag(drop, "drop", call = call)
  labels <- df[[label_col]]
  if (is.null(classes)) {
    classes <- default_classes(labels)
  }
  ids <- label_ids(labels, classes, label_col, call)
  classes <- attr(ids, "classes")
  clash <- intersect(setdiff(classes, label_col), names(df))
  if (length(clash) > 0) {
    abort_input(c(
      "x" = "{.arg df} already has column{cli::qty(length(clash))}{?s} {.val {clash}}, named like a class.",
      "i" = "Remove or rename {cli::qty(length(clash))}{?it/them} first, or pass other {.arg classes}."
    ), call = call)
  }
  for (k in seq_along(classes)) {
    df[[classes[k]]] <- as.numeric(ids == k - 1L)
  }
  if (drop && !label_col %in% classes) {
    df[[label_col]] <- NULL
  }
  df
}

# The levels of a factor; otherwise the sorted distinct labels as text:
# numbers as 0 to the largest, names alphabetically. Only a default: pykd
# then reads the labels against them.
default_classes <- function(labels) {
  if (is.factor(labels)) {
    return(levels(labels))
  }
  values <- unique(labels[!is.na(labels)])
  if (is.character(values)) {
    values <- values[nzchar(trimws(values))]
  }
  ids <- suppressWarnings(as.numeric(values))
  if (length(values) > 0 && !anyNA(ids) && all(is.finite(ids)) && max(ids) >= 0) {
    return(as.character(seq(0, floor(max(ids)))))
  }
  sort(as.character(values))
}

# 0-based class id of each label (-1 for a missing one), named by the class
# names pykd accepted: read by pykd.data.labels, the rules distill() applies.
label_ids <- function(labels, classes, label_col, call) {
  frames <- pykd_module("data.labels", convert = FALSE)
  pandas <- reticulate::import("pandas", convert = FALSE)
  checked <- py_call(frames$check_classes, classes_arg(classes),
                     .call = call, .convert = FALSE)
  # R text is Python str objects (pandas 3 would otherwise pick its own
  # string dtype).
  series <- pandas$Series(column_to_py(labels),
                          dtype = if (is.character(labels) || is.factor(labels)) "object")
  ids <- py_call(frames$label_ids, series, checked, "df", label_col,
                 .call = call, .convert = FALSE)
  ids <- as.integer(unlist(reticulate::py_to_r(ids)))
  structure(ids, names = NULL, classes = unlist(reticulate::py_to_r(checked)))
}
