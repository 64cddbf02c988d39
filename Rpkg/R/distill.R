#' Distil a teacher network into a student
#'
#' Trains `student` to match both the labels and the softened predictions of
#' `teacher` (Hinton, Vinyals and Dean, 2015), from a table of image file
#' names and labels and a folder of images. Per image the loss is
#'
#' `alpha * hard + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))`
#'
#' with student logits `s`, teacher logits `t` and temperature `T`; `hard`
#' is the cross-entropy with the label. Images without a label (an `NA`
#' label, or a row of zeros in one-hot columns) learn from the teacher only.
#'
#' Each epoch runs exactly `steps_per_epoch` batches, continuing where the
#' previous epoch stopped and reshuffling when a pass over the table ends,
#' so any number of epochs and steps works with any table size. The same
#' holds for `validation_steps` on the validation table. A final short batch
#' is kept, and every mean is weighted by the images it covers.
#'
#' All inputs are checked in R before Python starts, and errors name the
#' problem and the fix. The training loop itself runs in the Python package
#' `pykd` (see [install_rkd()]).
#'
#' @param teacher The teacher: a Keras model, the path of a saved model, a
#'   list of models (their averaged logits are the targets), or a data frame
#'   (or CSV path) of precomputed logits with the `x_col` column and one
#'   column per class.
#' @param student The student: a Keras model or the path of a saved model.
#'   It is trained in place.
#' @param df The training table: a data frame (or tibble) or the path of a
#'   CSV file, one row per image.
#' @param directory The folder holding the image files.
#' @param validation An optional validation table, like `df`. It may use the
#'   other label layout: one-hot columns named by `classes` when `df` has a
#'   label column, or a `label` column when `df` is one-hot.
#' @param x_col Name of the column of image file names (relative to
#'   `directory`).
#' @param y_col Name of the label column (class ids counted from 0, or class
#'   names with `classes`), or a character vector naming one-hot columns.
#' @param classes Class names in class-id order. `NULL` takes them from the
#'   one-hot column names, or numbers them.
#' @param image_size Height and width the images are resized to; `NULL`
#'   uses the student's input size.
#' @param rescale Factor the pixel values are multiplied by, such as
#'   `1/255`; `NULL` leaves them as they are (0 to 255).
#' @param batch_size Images per batch.
#' @param epochs Number of epochs.
#' @param steps_per_epoch Batches per epoch; `NULL` for one pass over `df`.
#' @param validation_steps Validation batches per epoch; `NULL` for one pass
#'   over `validation`.
#' @param temperature Softmax temperature `T` (> 0) of the distillation loss.
#' @param alpha Weight in \[0, 1\] of the hard-label loss; `1 - alpha` weighs
#'   the distillation loss.
#' @param augment Random augmentation of the training images, from
#'   [augmentation()], or `NULL`.
#' @param seed Seed for shuffling, augmentation and initial state, or `NULL`.
#' @param verbose Show a progress bar and one line of metrics per epoch.
#' @param ... Further `pykd` options, by their Python names:
#'   `teacher_outputs` (`"auto"`, `"logits"` or `"probabilities"`),
#'   `teacher_combine` (how an ensemble is averaged: `"logits"` or
#'   `"probabilities"`), `teacher_precision` (`"auto"`, the default, runs the
#'   teacher in bfloat16, 1.6 to 1.9 times faster in `make bench`, where the hardware has it:
#'   CPUs with avx512_bf16 or amx_bf16, GPUs from Ampere on; `"float32"` or
#'   `"bfloat16"` forces either), `student_outputs`,
#'   `optimizer`, `learning_rate`, `last_batch` (`"keep"` or `"drop"`),
#'   `cache_teacher`, `cache_images` (`"auto"` decodes every image once into
#'   a file and reads later epochs from it when that is exact; `TRUE`,
#'   `FALSE`), `cache_dir`, `on_bad_image` (`"error"` or `"skip"`),
#'   `checkpoint_dir`, `resume`, `strategy` and `callbacks` (a list of Keras
#'   callbacks).
#' @return An [rkd_history].
#' @seealso [train_scratch()] for the baseline without a teacher,
#'   [one_hot_labels()], [augmentation()], [rkd_evaluate()].
#' @export
#' @examples
#' if (rkd_available()) {
#'   ex <- rkd_example_data(tempfile())
#'   models <- rkd_example_models(n_classes = 10, seed = 1)
#'   history <- distill(
#'     models$teacher, models$student, ex$train, ex$directory,
#'     validation = ex$validation, classes = ex$classes,
#'     batch_size = 16, epochs = 2, steps_per_epoch = 5, seed = 1
#'   )
#'   history
#' }
distill <- function(teacher, student, df, directory, validation = NULL,
                    x_col = "image_id", y_col = "label", classes = NULL,
                    image_size = NULL, rescale = NULL, batch_size = 32,
                    epochs = 10, steps_per_epoch = NULL,
                    validation_steps = NULL, temperature = 3, alpha = 0.1,
                    augment = NULL, seed = NULL, verbose = TRUE, ...) {
  call <- environment()
  check_model_arg(teacher, "teacher", call = call, teacher = TRUE)
  check_model_arg(student, "student", call = call)
  check_temperature(temperature, call = call)
  check_alpha(alpha, call = call)
  run <- prepare_run(
    df = df, directory = directory, validation = validation, x_col = x_col,
    y_col = y_col, classes = classes, image_size = image_size,
    rescale = rescale, batch_size = batch_size, epochs = epochs,
    steps_per_epoch = steps_per_epoch, validation_steps = validation_steps,
    augment = augment, seed = seed, verbose = verbose,
    options = list(...), allowed = distill_options, call = call
  )
  run$args$temperature <- as.double(temperature)
  run$args$alpha <- as.double(alpha)
  run_training("distill", teacher, student, run, verbose, call)
}

#' Train a student from scratch
#'
#' The baseline for [distill()]: the same data handling and training loop,
#' without a teacher (the hard-label loss only; unlabeled images are not
#' used for the loss).
#'
#' @inheritParams distill
#' @param student The model to train: a Keras model or the path of a saved
#'   model. It is trained in place.
#' @param ... Further `pykd` options, by their Python names: `optimizer`,
#'   `learning_rate`, `last_batch`, `on_bad_image`, `checkpoint_dir`,
#'   `resume`, `strategy`, `callbacks`, `student_outputs` and `cache_images`.
#' @return An [rkd_history].
#' @export
#' @examples
#' if (rkd_available()) {
#'   ex <- rkd_example_data(tempfile())
#'   student <- rkd_example_models(seed = 1)$student
#'   history <- train_scratch(
#'     student, ex$train, ex$directory, classes = ex$classes,
#'     batch_size = 16, epochs = 2, steps_per_epoch = 5
#'   )
#'   as.data.frame(history)
#' }
train_scratch <- function(student, df, directory, validation = NULL,
                          x_col = "image_id", y_col = "label",
                          classes = NULL, image_size = NULL, rescale = NULL,
                          batch_size = 32, epochs = 10,
                          steps_per_epoch = NULL, validation_steps = NULL,
                          augment = NULL, seed = NULL, verbose = TRUE, ...) {
  call <- environment()
  check_model_arg(student, "student", call = call)
  run <- prepare_run(
    df = df, directory = directory, validation = validation, x_col = x_col,
    y_col = y_col, classes = classes, image_size = image_size,
    rescale = rescale, batch_size = batch_size, epochs = epochs,
    steps_per_epoch = steps_per_epoch, validation_steps = validation_steps,
    augment = augment, seed = seed, verbose = verbose,
    options = list(...), allowed = scratch_options, call = call
  )
  run_training("scratch", NULL, student, run, verbose, call)
}

scratch_options <- c("optimizer", "learning_rate", "last_batch",
                     "on_bad_image", "checkpoint_dir", "resume", "strategy",
                     "callbacks", "student_outputs", "cache_images")
distill_options <- c("teacher_outputs", scratch_options, "cache_teacher",
                     "cache_dir", "teacher_combine", "teacher_precision")

# Check everything that can be checked in R and build pykd's keyword
# arguments (plain values only). Returns list(train, args, n_train).
prepare_run <- function(df, directory, validation, x_col, y_col, classes,
                        image_size, rescale, batch_size, epochs,
                        steps_per_epoch, validation_steps, augment, seed,
                        verbose, options, allowed, call) {
  check_count(batch_size, "batch_size", call = call)
  check_count(epochs, "epochs", call = call)
  check_count(steps_per_epoch, "steps_per_epoch", call = call, allow_null = TRUE)
  check_count(validation_steps, "validation_steps", call = call, allow_null = TRUE)
  check_image_size(image_size, call = call)
  check_rescale(rescale, call = call)
  check_seed(seed, call = call)
  check_flag(verbose, "verbose", call = call)
  check_string(x_col, "x_col", call = call)
  check_y_col(y_col, call = call)
  classes <- check_classes(classes, call = call)
  augment <- as_py_augment(augment, call = call)
  options <- check_options(options, allowed, call = call)
  check_directory(directory, call = call)

  train <- check_labelled_table(df, "df", directory, x_col, y_col, classes,
                                call = call)
  if (!is.null(validation)) {
    val_classes <- if (is.null(classes) && length(y_col) > 1) y_col else classes
    validation <- check_labelled_table(validation, "validation", directory,
                                       x_col, y_col, val_classes, call = call,
                                       switch_layout = TRUE)
  }
  args <- list(
    directory = normalizePath(directory),
    validation = if (!is.null(validation)) {
      table_for_py(validation, x_col, attr(validation, "y_col"))
    },
    x_col = x_col,
    y_col = if (length(y_col) == 1) y_col else as.list(y_col),
    classes = if (!is.null(classes)) as.list(classes),
    image_size = if (!is.null(image_size)) as.list(as.integer(image_size)),
    rescale = if (!is.null(rescale)) as.double(rescale),
    batch_size = as.integer(batch_size),
    epochs = as.integer(epochs),
    steps_per_epoch = if (!is.null(steps_per_epoch)) as.integer(steps_per_epoch),
    validation_steps = if (!is.null(validation_steps)) as.integer(validation_steps),
    augment = augment,
    seed = if (!is.null(seed)) as.integer(seed),
    verbose = 0L
  )
  # list(NULL) entries become None in Python; keep them explicit.
  args <- c(args, options)
  list(
    train = table_for_py(train, x_col, y_col),
    args = args,
    options = names(options),
    n_train = nrow(train),
    n_validation = if (is.null(validation)) 0L else nrow(validation)
  )
}

table_for_py <- function(df, x_col, y_col) {
  if (length(y_col) > 1) {
    df <- one_hot_to_py(df, y_col)
  }
  table_to_py(df, c(x_col, y_col))
}

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
  for (name in intersect(given, c("cache_dir", "checkpoint_dir"))) {
    if (!is.null(options[[name]])) {
      check_string(options[[name]], name, call = call)
      options[[name]] <- path.expand(options[[name]])
    }
  }
  if (!is.null(options$learning_rate)) {
    check_number(options$learning_rate, "learning_rate", call = call)
    options$learning_rate <- as.double(options$learning_rate)
  }
  if (!is.null(options$callbacks) && is_py_object(options$callbacks)) {
    options$callbacks <- list(options$callbacks)
  }
  options
}

run_training <- function(mode, teacher, student, run, verbose, call) {
  module <- pykd()
  student_name <- model_name(student)
  teacher_name <- if (!is.null(teacher)) model_name(teacher)
  student <- resolve_model(student, call = call)
  args <- run$args
  if (mode == "distill") {
    teacher <- resolve_model(teacher, call = call)
    fun <- module$distill
    positional <- list(teacher, student, run$train)
  } else {
    fun <- module$train_scratch
    positional <- list(student, run$train)
  }
  check_supported(fun, run$options, call = call)
  if (verbose) {
    hooks <- progress_hooks()
    on.exit(hooks$close(), add = TRUE)
    args$callbacks <- c(list(progress_callback(hooks)), args$callbacks)
    announce_run(mode, run, args)
  }
  result <- with_py_errors(do.call(fun, c(positional, args)), call = call)
  history <- history_from_py(result)
  history$params$teacher_name <- teacher_name
  history$params$student_name <- student_name
  history
}

# An option given in `...` that the installed pykd does not take.
check_supported <- function(fun, options, call) {
  accepted <- py_parameters(fun)
  unsupported <- setdiff(options, accepted)
  if (!is.null(accepted) && length(unsupported) > 0) {
    cli::cli_abort(c(
      "x" = "The installed {.pkg pykd} does not take the option{?s} {.arg {unsupported}}.",
      "i" = "Update it with {.run rkd::install_rkd(force = TRUE)}, or leave {cli::qty(length(unsupported))}{?it/them} out."
    ), call = call, class = c("rkd_old_pykd", "rkd_error"))
  }
  invisible(options)
}

announce_run <- function(mode, run, args) {
  what <- if (mode == "distill") "Distilling" else "Training from scratch"
  n <- run$n_train
  epochs <- args$epochs
  steps <- if (is.null(args$steps_per_epoch)) "one pass" else
    paste(args$steps_per_epoch, "steps")
  cli::cli_alert_info(
    "{what} on {n} image{?s}: {epochs} epoch{?s} of {steps}, batch size {args$batch_size}."
  )
}

model_name <- function(x) {
  if (is_py_object(x)) {
    name <- tryCatch(reticulate::py_get_attr(x, "name", silent = TRUE), error = function(e) NULL)
    if (is_py_object(name)) name <- reticulate::py_to_r(name)
    if (is.character(name) && length(name) == 1) {
      return(name)
    }
    return(NULL)
  }
  if (is_model_path(x)) {
    return(basename(x))
  }
  if (is.data.frame(x)) {
    return("precomputed logits")
  }
  if (is.list(x)) {
    return(paste0("ensemble of ", length(x)))
  }
  NULL
}

# pykd.History -> rkd_history (plain R data).
history_from_py <- function(result) {
  metrics <- result$to_dict()
  params <- result$params
  if (is_py_object(params)) {
    params <- reticulate::py_to_r(params)
  }
  new_rkd_history(metrics, params)
}
