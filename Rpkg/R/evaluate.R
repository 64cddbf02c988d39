#' Evaluate a model on a labelled table
#'
#' Computes the mean cross-entropy loss and the accuracy of `model` on the
#' labelled rows of a table of images (unlabeled rows are skipped), and the
#' recall and precision of every class.
#'
#' `loss` and `accuracy` are the numbers [distill()] reports as `val_loss`
#' and `val_accuracy` on the same rows. Recall and precision count each
#' image's top class as [rkd_predict()] gives it (see [rkd_confusion()] for
#' the counts themselves).
#'
#' @inheritParams distill
#' @param model A Keras model, the path of a saved model (`.keras` or
#'   `.h5`), or the path of a `.tflite` file written by [rkd_export()] (its
#'   loss is read from its float32 probabilities).
#' @param df The table to evaluate on: a data frame or the path of a CSV
#'   file.
#' @param on_bad_image `"error"` (the default) to stop at an unreadable
#'   image, `"skip"` to leave it out with a warning.
#' @param ... `r options_doc("evaluate", own = names(formals(rkd_evaluate)))`
#' @return A tibble of metrics in the long shape of tidymodels' `yardstick`,
#'   one row per figure: `.metric` (`"accuracy"`, `"loss"`, then
#'   `"recall"` and `"precision"` for each class), `.class` (the class of a
#'   per-class figure, `NA` for the overall ones), `.estimate` and `n`, the
#'   images the figure is over (all labelled images; for recall the images
#'   of the class; for precision the images predicted as the class, with an
#'   `NA` precision when there are none). One figure is
#'   `with(scores, .estimate[.metric == "accuracy"])`.
#' @seealso [rkd_confusion()] for the confusion matrix.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' ex <- rkd_example_data(tempfile())
#' student <- rkd_example_models(seed = 1)$student
#' rkd_evaluate(student, ex$validation, ex$directory, y_col = ex$classes)
#' }
rkd_evaluate <- function(model, df, directory, x_col = "image_id",
                         y_col = "label", classes = NULL, image_size = NULL,
                         rescale = NULL, batch_size = 32,
                         on_bad_image = "error", ...) {
  call <- environment()
  table <- table_arg(df, "df", call = call)
  args <- c(
    list(pykd()$evaluate, model_arg(model), table),
    image_args(directory, x_col, factor_classes(classes, y_col, df),
               image_size, rescale, batch_size),
    list(y_col = py_value(y_col), on_bad_image = py_value(on_bad_image)),
    check_options(list(...), "evaluate", call = call),
    list(.call = call)
  )
  result <- do.call(py_call, args)
  counts <- confusion_counts(model, table, directory, x_col, y_col,
                             factor_classes(classes, y_col, df), image_size,
                             rescale, batch_size, on_bad_image, call)
  metrics_tibble(result, counts)
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
#' @param ... `r options_doc("teacher_logits", own = names(formals(teacher_logits)))`
#' @return A data frame with `x_col` and one numeric column per class (a
#'   tibble when `df` is one).
#' @seealso [out_of_fold_logits()] for logits from teachers that never saw
#'   the image's label.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' ex <- rkd_example_data(tempfile())
#' models <- rkd_example_models(seed = 1)
#' logits <- teacher_logits(models$teacher, ex$train, ex$directory,
#'                          classes = ex$classes)
#' head(logits)
#' }
teacher_logits <- function(teacher, df, directory, x_col = "image_id",
                           classes = NULL, image_size = NULL,
                           rescale = NULL, batch_size = 32, path = NULL,
                           ...) {
  call <- environment()
  table <- table_arg(df, "df", call = call)
  args <- c(
    list(pykd()$teacher_logits, model_arg(teacher), table),
    image_args(directory, x_col, classes, image_size, rescale, batch_size),
    list(path = py_path(path)),
    check_options(list(...), "teacher_logits", call = call),
    list(.call = call, .convert = FALSE)
  )
  frame <- do.call(py_call, args)
  like_input(py_frame_to_df(frame, call = call), df)
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
#' @param ... Training options for each teacher, as for [train_scratch()].
#'   `r options_doc("out_of_fold_logits", own = names(formals(out_of_fold_logits)))`
#' @return A data frame with `x_col` and one numeric column per class, in
#'   the row order of `df` (a tibble when `df` is one).
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' ex <- rkd_example_data(tempfile())
#' oof <- out_of_fold_logits(
#'   function() rkd_example_models()$teacher, ex$train, ex$directory,
#'   folds = 2, classes = ex$classes, epochs = 1, steps_per_epoch = 5,
#'   verbose = FALSE
#' )
#' head(oof)
#' }
out_of_fold_logits <- function(build_teacher, df, directory, folds = 4,
                               x_col = "image_id", y_col = "label",
                               classes = NULL, batch_size = 32, epochs = 10,
                               steps_per_epoch = NULL, augment = NULL,
                               seed = 0, verbose = TRUE, path = NULL, ...) {
  call <- environment()
  # An R function becomes a Python callable: anything else cannot be called.
  if (!is.function(build_teacher)) {
    abort_input(c(
      "x" = "{.arg build_teacher} must be a function returning a fresh Keras model.",
      "i" = "For example {.code function() rkd_example_models()$teacher}."
    ), call = call)
  }
  check_flag(verbose, "verbose", call = call)
  args <- c(
    list(
      build_teacher, table_arg(df, "df", call = call),
      directory = py_path(directory),
      folds = as_nullable_integer(folds),
      x_col = py_value(x_col),
      y_col = py_value(y_col),
      classes = classes_arg(factor_classes(classes, y_col, df)),
      seed = as_nullable_integer(seed),
      path = py_path(path),
      batch_size = as_nullable_integer(batch_size),
      epochs = as_nullable_integer(epochs),
      steps_per_epoch = as_nullable_integer(steps_per_epoch),
      augment = augment_arg(augment),
      verbose = 0L
    ),
    check_options(list(...), "out_of_fold_logits", call = call)
  )
  if (verbose) {
    fold <- 0
    n_folds <- folds
    hooks <- progress_hooks(on_start = function(info) {
      fold <<- fold + 1
      announce_fold(fold, n_folds, info)
    })
    on.exit(hooks$close(), add = TRUE)
    args$callbacks <- c(list(progress_callback(hooks)), args$callbacks)
    cli::cli_alert_info(
      "Training one teacher per fold, each without that fold's labeled rows."
    )
  }
  frame <- do.call(py_call, c(list(pykd()$out_of_fold_logits), args,
                              list(.call = call, .convert = FALSE)))
  like_input(py_frame_to_df(frame, call = call), df)
}


# "Fold 2 of 4: a teacher trained on the other folds' 270 labeled images,
# ...", when that fold's teacher starts training.
announce_fold <- function(fold, folds, info) {
  images <- info$params$n_labeled
  on <- if (!is.null(images)) {
    cli::format_inline(" on the other folds' {images} labeled image{?s}")
  }
  epochs <- info$epochs
  steps <- info$steps
  cli::cli_alert_info(
    "Fold {fold} of {folds}: a teacher trained{on}, {epochs} epoch{?s} of {steps} step{?s}."
  )
}

# A pandas DataFrame (a Python object, unconverted) as an R data.frame,
# through a dict of plain lists (DataFrame.to_dict("list") gives native
# Python numbers and strings).
py_frame_to_df <- function(frame, call = NULL) {
  columns <- reticulate::py_to_r(py_call(frame$to_dict, orient = "list",
                                         .call = call, .convert = FALSE))
  py_columns_to_df(columns)
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
