# Tables cross into Python as a named list of plain lists: no data frame, no
# matrix, no NumPy array. Factors become text; integers and logicals become
# doubles with NA as NaN; a missing text value becomes None. Every column is
# a list, so a one-row table keeps its columns as lists.

table_to_py <- function(df, columns = names(df)) {
  out <- lapply(columns, function(col) column_to_py(df[[col]]))
  names(out) <- columns
  out
}

column_to_py <- function(x) {
  if (is.factor(x)) {
    x <- as.character(x)
  }
  if (is.character(x)) {
    out <- as.list(x)
    out[is.na(x)] <- list(NULL)
    return(out)
  }
  if (is.logical(x) || is.numeric(x)) {
    x <- as.double(x)
    x[is.na(x)] <- NaN
    return(as.list(x))
  }
  cli::cli_abort(
    "Cannot send a column of class {.cls {class(x)[1]}} to Python.",
    class = c("rkd_input_error", "rkd_error")
  )
}

# One-hot columns go with NA as 0 (an unlabeled row is all zeros).
one_hot_to_py <- function(df, y_col) {
  for (col in y_col) {
    values <- as.double(df[[col]])
    values[is.na(values)] <- 0
    df[[col]] <- values
  }
  df
}

# Python's list of numbers (possibly with None) as an R double vector.
py_numbers <- function(x) {
  vapply(x, function(v) if (is.null(v)) NA_real_ else as.double(v), double(1))
}

#' Write the example data
#'
#' Copies the example data set bundled with rkd into `dir`, laid out like the
#' Kaggle Cassava leaf disease data: a folder of JPEG images, a training
#' table `train.csv` with columns `image_id` and `label` (class ids counted
#' from 0; some labels are missing, so those images can only learn from a
#' teacher), and a validation table `validation.csv` with `image_id` and one
#' one-hot column per class. The images are 32 x 32 RGB renderings of the
#' handwritten digits of the UCI optical digits data, with the ten classes
#' `"zero"` to `"nine"`.
#'
#' @param dir Folder to write into; created when missing.
#' @param overwrite If `FALSE`, refuse to write into a folder that already
#'   holds the example data.
#' @return A list with `directory` (the image folder), `train_csv`,
#'   `validation_csv`, `classes`, and the two tables read back as data
#'   frames, `train` and `validation`.
#' @export
#' @examples
#' ex <- rkd_example_data(tempfile("rkd-example-"))
#' head(ex$train)
#' head(ex$validation)
#' ex$classes
rkd_example_data <- function(dir = tempfile("rkd-example-"), overwrite = TRUE) {
  call <- environment()
  check_string(dir, "dir", call = call)
  check_flag(overwrite, "overwrite", call = call)
  zip <- system.file("extdata", "digits.zip", package = "rkd")
  if (!nzchar(zip)) {
    cli::cli_abort(c(
      "x" = "The example data is missing from the installed rkd package.",
      "i" = "Reinstall rkd."
    ), call = call, class = "rkd_error")
  }
  train_csv <- file.path(dir, "train.csv")
  if (!overwrite && file.exists(train_csv)) {
    abort_input(c(
      "x" = "{.path {dir}} already holds the example data.",
      "i" = "Use another folder or set {.code overwrite = TRUE}."
    ), call = call)
  }
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  utils::unzip(zip, exdir = dir, overwrite = TRUE)
  dir <- normalizePath(dir)
  train_csv <- file.path(dir, "train.csv")
  validation_csv <- file.path(dir, "validation.csv")
  validation <- utils::read.csv(validation_csv, stringsAsFactors = FALSE,
                                check.names = FALSE)
  list(
    directory = file.path(dir, "images"),
    train_csv = train_csv,
    validation_csv = validation_csv,
    classes = setdiff(names(validation), "image_id"),
    train = utils::read.csv(train_csv, stringsAsFactors = FALSE,
                            na.strings = c("", "NA")),
    validation = validation
  )
}
