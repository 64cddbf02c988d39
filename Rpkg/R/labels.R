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
#'
#' @param df A data frame (or tibble) with a label column.
#' @param label_col Name of the label column.
#' @param classes The class names in class-id order; they become the new
#'   column names. `NULL` uses the sorted distinct labels (as text).
#' @param drop If `TRUE`, remove the label column from the result.
#' @return `df` with one numeric 0/1 column per class added (same class as
#'   `df`, so a tibble stays a tibble).
#' @export
#' @examples
#' labels <- data.frame(
#'   image_id = c("1000015157.jpg", "1000201771.jpg", "100042118.jpg"),
#'   label = c(0, 3, NA)
#' )
#' one_hot_labels(labels, classes = c("CBB", "CBSD", "CGM", "CMD", "Healthy"))
one_hot_labels <- function(df, label_col = "label", classes = NULL,
                           drop = FALSE) {
  call <- environment()
  if (!is.data.frame(df)) {
    shown <- describe_value(df)
    abort_input(c(
      "x" = "{.arg df} must be a data frame, not {shown}.",
      "i" = "Read the labels first, for example with {.code read.csv(\"train.csv\")}."
    ), call = call)
  }
  check_string(label_col, "label_col", call = call)
  check_columns(df, label_col, "df", call = call, set = "label_col")
  check_flag(drop, "drop", call = call)
  labels <- df[[label_col]]
  if (is.factor(labels)) {
    labels <- as.character(labels)
  }
  if (is.null(classes)) {
    classes <- default_classes(labels)
  }
  classes <- check_classes(classes, call = call)
  check_label_column(df, label_col, classes, "df", call = call)
  clash <- intersect(setdiff(classes, label_col), names(df))
  if (length(clash) > 0) {
    abort_input(c(
      "x" = "{.arg df} already has column{cli::qty(length(clash))}{?s} {.val {clash}}, named like a class.",
      "i" = "Remove or rename {cli::qty(length(clash))}{?it/them} first, or pass other {.arg classes}."
    ), call = call)
  }
  ids <- label_ids(labels, classes)
  for (k in seq_along(classes)) {
    df[[classes[k]]] <- ifelse(is.na(ids), 0, as.numeric(ids == k - 1L))
  }
  if (drop && !label_col %in% classes) {
    df[[label_col]] <- NULL
  }
  df
}

# Sorted distinct labels as text: numbers numerically, names alphabetically.
default_classes <- function(labels) {
  values <- unique(labels[!is.na(labels)])
  if (is.character(values)) {
    values <- values[nzchar(trimws(values))]
  }
  ids <- suppressWarnings(as.numeric(values))
  if (length(values) > 0 && !anyNA(ids)) {
    return(as.character(seq(0, max(ids))))
  }
  sort(as.character(values))
}

# 0-based class id of each label (NA for a missing label). Assumes the labels
# passed check_label_column().
label_ids <- function(labels, classes) {
  out <- rep(NA_integer_, length(labels))
  present <- !is.na(labels)
  if (is.character(labels)) {
    present <- present & !trimws(labels) %in% c("", "NA", "NaN", "nan", "None")
  }
  values <- labels[present]
  ids <- suppressWarnings(as.numeric(values))
  named <- is.na(ids)
  ids[named] <- match(values[named], classes) - 1
  out[present] <- as.integer(round(ids))
  out
}
