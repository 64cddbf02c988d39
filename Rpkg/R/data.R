# R values cross into Python as plain values: no data frame, no matrix, no
# NumPy array. The conversions below change representation only; whether a
# value is acceptable is pykd's to say, so an odd value (2.5 batches, a
# vector where one number belongs, NA) reaches Python as it is and is refused
# there with pykd's own message.

# A setting as a plain Python value: a length-one vector as a scalar, any
# other vector as a list (so that Python sees, and refuses, c(1, 2) where one
# number belongs), NA as NaN (reticulate would send a logical NA as True and
# an integer NA as -2147483648), a factor as text, a list element by
# element. Python objects and functions go as they are.
py_value <- function(x) {
  if (is.null(x) || is_py_object(x) || is.function(x) || is.environment(x)) {
    return(x)
  }
  if (is.data.frame(x)) {
    return(table_to_py(x))
  }
  if (is.factor(x)) {
    x <- as.character(x)
  }
  if (is.list(x)) {
    return(lapply(x, py_value))
  }
  if (is.atomic(x)) {
    values <- as.list(unname(as.vector(x)))
    values[is.na(x)] <- list(NaN)
    return(if (length(x) == 1) values[[1]] else values)
  }
  x
}

# Whole numbers as Python ints (as R keras 2.x did): R's 32 is a double.
# Anything else is left to py_value(), so that 2.5 reaches Python as 2.5 and
# Python's rule refuses it.
as_nullable_integer <- function(x) {
  if (!is.numeric(x) || is.object(x)) {
    return(py_value(x))
  }
  one <- function(v) {
    if (is.na(v)) {
      NaN
    } else if (is.finite(v) && v == round(v) && abs(v) <= .Machine$integer.max) {
      as.integer(v)
    } else {
      v
    }
  }
  values <- lapply(unname(as.vector(x)), one)
  if (length(x) == 1) values[[1]] else values
}

# A path: "~" expanded; anything that is not one string is left to pykd.
py_path <- function(x) {
  if (is.character(x) && length(x) == 1 && !is.na(x)) {
    return(path.expand(x))
  }
  py_value(x)
}

# The arguments of every pykd function that reads a table's images, as plain
# Python values (`classes` already resolved, e.g. by factor_classes()).
image_args <- function(directory, x_col, classes, image_size, rescale,
                       batch_size) {
  list(
    directory = py_path(directory),
    x_col = py_value(x_col),
    classes = classes_arg(classes),
    image_size = as_nullable_integer(image_size),
    rescale = py_value(rescale),
    batch_size = as_nullable_integer(batch_size)
  )
}

# Class names as text in class-id order (a factor gives its levels), always a
# list: a single name reaches pykd as a list of one, which it refuses.
classes_arg <- function(classes) {
  if (is.null(classes)) {
    return(NULL)
  }
  if (is.factor(classes)) {
    classes <- levels(classes)
  }
  if (!is.atomic(classes)) {
    return(py_value(classes))
  }
  values <- as.list(unname(as.character(classes)))
  values[is.na(classes)] <- list(NaN)
  values
}

# A teacher or student: a Python object as it is, a model file or a CSV of
# logits as its path, a data frame of logits as a table, a list (an ensemble)
# member by member. pykd loads and checks them.
model_arg <- function(x) {
  if (is.data.frame(x)) {
    return(table_to_py(x))
  }
  if (is.character(x) && !anyNA(x)) {
    paths <- as.list(path.expand(x))
    return(if (length(x) == 1) paths[[1]] else paths)
  }
  if (is.list(x) && !is_py_object(x)) {
    return(lapply(unname(x), model_arg))
  }
  py_value(x)
}

is_py_object <- function(x) {
  inherits(x, "python.builtin.object")
}

# A data frame as a named list of plain lists, one per column (so a one-row
# table keeps its columns as lists). Text stays text with NA as None;
# numbers and logicals become doubles with NA as NaN; factors, dates and
# other atomic classes become text. Only a column R cannot flatten (a list
# column) is refused here.
table_to_py <- function(df, columns = names(df), arg = "df", call = NULL) {
  out <- lapply(columns, function(col) column_to_py(df[[col]], col, arg, call))
  names(out) <- columns
  out
}

column_to_py <- function(x, col = "", arg = "df", call = NULL) {
  if (is.logical(x) || (is.numeric(x) && !is.object(x))) {
    x <- as.double(x)
    x[is.na(x)] <- NaN
    return(as.list(x))
  }
  if (is.atomic(x)) {
    text <- as.character(x)
    out <- as.list(text)
    out[is.na(text)] <- list(NULL)
    return(out)
  }
  type <- class(x)[1]
  abort_input(c(
    "x" = "Column {.val {col}} of {.arg {arg}} is a list (class {.cls {type}}), not a vector.",
    "i" = "Tables go to Python as vectors of text, numbers or logicals: turn it into one, or drop it."
  ), call = call)
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

#' Write Fashion-MNIST in the Cassava layout
#'
#' Writes real data nobody in this project made: photographs of clothes from
#' Fashion-MNIST (28 x 28 grey, ten classes named `"t_shirt"`, `"trouser"`, ...,
#' `"ankle_boot"`), as Debian's `dataset-fashion-mnist` package installs them,
#' laid out as the Kaggle Cassava data: a folder of PNG files, `train.csv`
#' (`image_id`, `label` as class ids counted from 0, `NA` for the rows left
#' unlabeled) and `test.csv` (every row labeled).
#'
#' @param dir Folder to write into; created when missing.
#' @param n_train,n_test How many images of Fashion-MNIST's training and test
#'   sets to take, at random.
#' @param labeled_fraction Share of the training rows that keep their label;
#'   the others are an unlabeled pool for a teacher to teach on.
#' @param seed Seed of the random choice of images and of labeled rows.
#' @param source Folder of Fashion-MNIST's idx files; by default where the
#'   Debian package puts them (`apt-get install dataset-fashion-mnist`).
#' @return A list with `directory` (the image folder), `train_csv`,
#'   `test_csv` (absolute paths, as from [rkd_example_data()]), `classes`,
#'   and the two tables read back as data frames, `train` and `test`.
#' @export
#' @examplesIf rkd_available() && dir.exists("/usr/share/datasets/fashion-mnist")
#' \donttest{
#' fm <- rkd_fashion_mnist(tempfile(), n_train = 200, labeled_fraction = 0.1,
#'                         n_test = 50)
#' table(is.na(fm$train$label))
#' fm$classes
#' }
rkd_fashion_mnist <- function(dir = tempfile("rkd-fashion-mnist-"),
                              n_train = 12000, labeled_fraction = 1,
                              n_test = 2000, seed = 0,
                              source = "/usr/share/datasets/fashion-mnist") {
  call <- environment()
  check_string(dir, "dir", call = call)
  out <- py_call(
    pykd()$datasets$fashion_mnist, py_path(dir),
    n_train = as_nullable_integer(n_train),
    labeled_fraction = py_value(labeled_fraction),
    n_test = as_nullable_integer(n_test),
    seed = as_nullable_integer(seed),
    source = py_path(source),
    .call = call
  )
  read <- function(path) {
    utils::read.csv(path, stringsAsFactors = FALSE, na.strings = c("", "NA"))
  }
  list(
    directory = normalizePath(out$directory),
    train_csv = normalizePath(out$train_csv),
    test_csv = normalizePath(out$test_csv),
    classes = unlist(out$classes),
    train = read(out$train_csv),
    test = read(out$test_csv)
  )
}
