#' Evaluate a model on a labelled table
#'
#' Computes the mean cross-entropy loss and the accuracy of `model` on the
#' labelled rows of a table of images (unlabeled rows are skipped).
#'
#' @inheritParams distill
#' @param model A Keras model or the path of a saved model.
#' @param df The table to evaluate on: a data frame or the path of a CSV
#'   file.
#' @param on_bad_image `"error"` to stop at an unreadable image, `"skip"` to
#'   leave it out with a warning.
#' @return A named numeric vector: `loss`, `accuracy` and `n`, the number of
#'   labelled images evaluated.
#' @export
#' @examples
#' if (rkd_available()) {
#'   ex <- rkd_example_data(tempfile())
#'   student <- rkd_example_models(seed = 1)$student
#'   rkd_evaluate(student, ex$validation, ex$directory, y_col = ex$classes)
#' }
rkd_evaluate <- function(model, df, directory, x_col = "image_id",
                         y_col = "label", classes = NULL, image_size = NULL,
                         rescale = NULL, batch_size = 32,
                         on_bad_image = c("error", "skip")) {
  call <- environment()
  check_model_arg(model, "model", call = call)
  on_bad_image <- match.arg(on_bad_image)
  check_count(batch_size, "batch_size", call = call)
  check_image_size(image_size, call = call)
  check_rescale(rescale, call = call)
  check_string(x_col, "x_col", call = call)
  check_y_col(y_col, call = call)
  classes <- check_classes(classes, call = call)
  check_directory(directory, call = call)
  table <- check_labelled_table(df, "df", directory, x_col, y_col, classes,
                                call = call)
  module <- pykd()
  model <- resolve_model(model, call = call)
  result <- with_py_errors(module$evaluate(
    model, table_for_py(table, x_col, y_col),
    directory = normalizePath(directory),
    x_col = x_col,
    y_col = if (length(y_col) == 1) y_col else as.list(y_col),
    classes = if (!is.null(classes)) as.list(classes),
    image_size = if (!is.null(image_size)) as.list(as.integer(image_size)),
    rescale = if (!is.null(rescale)) as.double(rescale),
    batch_size = as.integer(batch_size),
    on_bad_image = on_bad_image
  ), call = call)
  c(
    loss = as_number(result$loss),
    accuracy = as_number(result$accuracy),
    n = as_number(result$n)
  )
}

as_number <- function(x) {
  if (is.null(x)) NA_real_ else as.double(x)
}

#' Compute a teacher's logits once
#'
#' Runs `teacher` over the images of a table and returns its logits as a
#' data frame: the `x_col` column and one column per class. Pass the result
#' as `teacher` to [distill()] to train students without running the
#' teacher again (for example to compare students, or to distil from a
#' teacher too large to run alongside). Needs a `pykd` that has
#' `teacher_logits()`.
#'
#' @inheritParams distill
#' @param df The table of images: a data frame or CSV path. Labels are not
#'   needed.
#' @return A data frame with `x_col` and one numeric column per class.
#' @export
#' @examples
#' \dontrun{
#' logits <- rkd_teacher_logits(teacher, train, "images", classes = classes)
#' distill(logits, student, train, "images", classes = classes)
#' }
rkd_teacher_logits <- function(teacher, df, directory, x_col = "image_id",
                               classes = NULL, image_size = NULL,
                               rescale = NULL, batch_size = 32) {
  call <- environment()
  check_model_arg(teacher, "teacher", call = call, teacher = TRUE)
  check_count(batch_size, "batch_size", call = call)
  check_image_size(image_size, call = call)
  check_rescale(rescale, call = call)
  check_string(x_col, "x_col", call = call)
  classes <- check_classes(classes, call = call)
  check_directory(directory, call = call)
  table <- check_table(df, "df", call = call)
  check_columns(table, x_col, "df", call = call)
  ids <- check_ids(table, x_col, "df", call = call)
  check_images(ids, directory, "df", call = call)
  module <- pykd()
  if (!pykd_has("teacher_logits")) {
    abort_old_pykd("teacher_logits", call = call)
  }
  teacher <- resolve_model(teacher, call = call)
  options <- list(
    x_col = x_col,
    classes = if (!is.null(classes)) as.list(classes),
    image_size = if (!is.null(image_size)) as.list(as.integer(image_size)),
    rescale = if (!is.null(rescale)) as.double(rescale),
    batch_size = as.integer(batch_size),
    verbose = 0L
  )
  # Pass only the options this pykd version takes.
  accepted <- py_parameters(module$teacher_logits)
  if (!is.null(accepted)) {
    options <- options[names(options) %in% accepted]
  }
  frame <- with_py_errors(do.call(module$teacher_logits, c(
    list(teacher, table_to_py(table, x_col),
         directory = normalizePath(directory)),
    options
  )), call = call)
  py_frame_to_df(frame, call = call)
}

# A pandas DataFrame as an R data.frame, through a dict of plain lists
# (pykd.bridge.frame_to_lists when present, else DataFrame.to_dict("list"),
# which gives native Python numbers and strings).
py_frame_to_df <- function(frame, call = NULL) {
  bridge <- tryCatch(reticulate::import("pykd.bridge"), error = function(e) NULL)
  columns <- with_py_errors(
    if (!is.null(bridge) && reticulate::py_has_attr(bridge, "frame_to_lists")) {
      bridge$frame_to_lists(frame)
    } else {
      frame$to_dict(orient = "list")
    },
    call = call
  )
  py_columns_to_df(columns)
}

abort_old_pykd <- function(what, call = NULL) {
  cli::cli_abort(c(
    "x" = "The installed {.pkg pykd} has no {.fn {what}}.",
    "i" = "Update it with {.run rkd::install_rkd(force = TRUE)}."
  ), call = call, class = c("rkd_old_pykd", "rkd_error"))
}

# dict {column: list} from Python -> data.frame.
py_columns_to_df <- function(columns) {
  cols <- lapply(columns, function(col) {
    if (!is.list(col)) {
      return(col)
    }
    if (all(vapply(col, function(v) is.null(v) || is.numeric(v), logical(1)))) {
      return(py_numbers(col))
    }
    vapply(col, function(v) if (is.null(v)) NA_character_ else as.character(v),
           character(1))
  })
  as.data.frame(cols, stringsAsFactors = FALSE, optional = TRUE)
}

# Names of a Python function's parameters, or NULL when they cannot be read.
py_parameters <- function(fn) {
  tryCatch({
    inspect <- reticulate::import("inspect", convert = TRUE)
    params <- inspect$signature(fn)$parameters
    unlist(reticulate::iterate(params$keys()))
  }, error = function(e) NULL)
}
