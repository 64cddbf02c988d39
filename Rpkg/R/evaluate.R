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
#' teacher again: without augmentation this trains exactly as the live
#' teacher would, and no teacher model is loaded.
#'
#' @inheritParams distill
#' @param teacher A Keras model, the path of a saved model, or a list of
#'   them (an ensemble: their logits are averaged).
#' @param df The table of images: a data frame or CSV path. Labels are not
#'   needed.
#' @param path Optional CSV path to also write the table to.
#' @return A data frame with `x_col` and one numeric column per class.
#' @seealso [out_of_fold_logits()] for logits from teachers that never saw
#'   the image's label.
#' @export
#' @examples
#' if (rkd_available()) {
#'   ex <- rkd_example_data(tempfile())
#'   models <- rkd_example_models(seed = 1)
#'   logits <- teacher_logits(models$teacher, ex$train, ex$directory,
#'                            classes = ex$classes)
#'   head(logits)
#' }
teacher_logits <- function(teacher, df, directory, x_col = "image_id",
                           classes = NULL, image_size = NULL,
                           rescale = NULL, batch_size = 32, path = NULL) {
  call <- environment()
  check_model_arg(teacher, "teacher", call = call, teacher = TRUE)
  check_count(batch_size, "batch_size", call = call)
  check_image_size(image_size, call = call)
  check_rescale(rescale, call = call)
  check_string(x_col, "x_col", call = call)
  if (!is.null(path)) check_string(path, "path", call = call)
  classes <- check_classes(classes, call = call)
  check_directory(directory, call = call)
  table <- check_table(df, "df", call = call)
  check_columns(table, x_col, "df", call = call)
  ids <- check_ids(table, x_col, "df", call = call)
  check_images(ids, directory, "df", call = call)
  frame <- with_py_errors(pykd()$teacher_logits(
    resolve_model(teacher, call = call), table_to_py(table, x_col),
    directory = normalizePath(directory),
    x_col = x_col,
    classes = if (!is.null(classes)) as.list(classes),
    image_size = if (!is.null(image_size)) as.list(as.integer(image_size)),
    rescale = if (!is.null(rescale)) as.double(rescale),
    batch_size = as.integer(batch_size),
    path = path
  ), call = call)
  py_frame_to_df(frame, call = call)
}

#' Out-of-fold teacher logits
#'
#' The recipe of training the teacher k times by cross-validation: the
#' labeled rows are split into `folds` parts, one fresh teacher is trained
#' without each part, and every image gets the logits of the teacher that
#' did not see its label (unlabeled images get the average over all
#' teachers). A student distilled from this table does not learn the
#' teachers' memorised labels.
#'
#' @inheritParams distill
#' @param build_teacher A function of no arguments returning a fresh,
#'   untrained Keras model, called once per fold.
#' @param folds Number of folds (at least 2).
#' @param seed Seed for the fold split and the teachers' training.
#' @param path Optional CSV path to also write the table to.
#' @param ... Training options for each teacher, as for [train_scratch()]
#'   (`learning_rate`, `optimizer`, ...).
#' @return A data frame with `x_col` and one numeric column per class, in
#'   the row order of `df`.
#' @export
#' @examples
#' if (rkd_available()) {
#'   ex <- rkd_example_data(tempfile())
#'   oof <- out_of_fold_logits(
#'     function() rkd_example_models()$teacher, ex$train, ex$directory,
#'     folds = 2, classes = ex$classes, epochs = 1, verbose = FALSE
#'   )
#'   head(oof)
#' }
out_of_fold_logits <- function(build_teacher, df, directory, folds = 4,
                               x_col = "image_id", y_col = "label",
                               classes = NULL, batch_size = 32, epochs = 10,
                               steps_per_epoch = NULL, augment = NULL,
                               seed = 0, verbose = TRUE, path = NULL, ...) {
  call <- environment()
  if (!is.function(build_teacher)) {
    abort_input(c(
      "x" = "{.arg build_teacher} must be a function returning a fresh Keras model.",
      "i" = "For example {.code function() rkd_example_models()$teacher}."
    ), call = call)
  }
  check_count(folds, "folds", call = call)
  if (folds < 2) {
    abort_input(c("x" = "{.arg folds} must be at least 2, not {folds}."), call = call)
  }
  if (!is.null(path)) check_string(path, "path", call = call)
  run <- prepare_run(
    df = df, directory = directory, validation = NULL, x_col = x_col,
    y_col = y_col, classes = classes, image_size = NULL, rescale = NULL,
    batch_size = batch_size, epochs = epochs, steps_per_epoch = steps_per_epoch,
    validation_steps = NULL, augment = augment, seed = seed, verbose = verbose,
    options = list(...), allowed = scratch_options, call = call
  )
  args <- run$args[setdiff(names(run$args), c("validation", "seed"))]
  if (verbose) {
    cli::cli_inform("Training {folds} teacher{?s}, one without each fold of the labeled rows.")
  }
  frame <- with_py_errors(do.call(pykd()$out_of_fold_logits, c(
    list(build_teacher, run$train, folds = as.integer(folds),
         seed = as.integer(seed), path = path),
    args
  )), call = call)
  py_frame_to_df(frame, call = call)
}

# A pandas DataFrame as an R data.frame, through a dict of plain lists
# (DataFrame.to_dict("list") gives native Python numbers and strings).
py_frame_to_df <- function(frame, call = NULL) {
  columns <- with_py_errors(frame$to_dict(orient = "list"), call = call)
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
