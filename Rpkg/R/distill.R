#' Distil a teacher network into a student
#'
#' @description
#' Trains `student` to match both the labels and the softened predictions of
#' `teacher` (Hinton, Vinyals and Dean, 2015), from a table of image file
#' names and labels and a folder of images. The loss of each image weighs
#' the cross-entropy with its label against the divergence of the student's
#' predictions from the teacher's, both softened by a temperature; images
#' without a label learn from the teacher alone.
#'
#' @details
#' Per image the loss is
#'
#' `alpha * hard + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))`
#'
#' with student logits `s`, teacher logits `t` and temperature `T`; `hard`
#' is the cross-entropy with the label. Images without a label (an `NA`
#' label, or a row of zeros in one-hot columns) learn from the teacher only.
#' A factor label column gives the class names (its levels) when `classes`
#' is `NULL`.
#'
#' Each epoch runs exactly `steps_per_epoch` batches, continuing where the
#' previous epoch stopped and reshuffling when a pass over the table ends,
#' so any number of epochs and steps works with any table size. The same
#' holds for `validation_steps` on the validation table. A final short batch
#' is kept, and every mean is weighted by the images it covers.
#'
#' The training loop runs in the Python package `pykd` (see
#' [install_rkd()]), which checks every table, image, model and setting
#' before the first step: a bad input changes nothing and gives an error of
#' class `rkd_data_error` that names the problem and the fix. A student with
#' more trainable parameters than the teacher has in all is refused as a
#' likely swap of the two (pass `larger_student = TRUE` when it is meant).
#' Validation images that are also training images give a warning of class
#' `rkd_warning`.
#'
#' @section Interrupting a run:
#' Interrupting training (Ctrl-C, or Esc in RStudio) stops the calling R
#' code as any R interrupt does: a script ends, and a loop of runs does not
#' go on to its next run. The finished epochs are not lost. The student
#' holds the weights of the last finished epoch (never those of a partial
#' one), a student given as a file is saved back to it, and the interrupt
#' condition, of class `c("rkd_interrupt", "interrupt", "condition")`,
#' carries the history of the finished epochs as `history`. Catch it to keep
#' it:
#'
#' ```
#' history <- tryCatch(
#'   distill(teacher, student, train, "images", epochs = 50),
#'   interrupt = function(cnd) cnd$history
#' )
#' ```
#'
#' (`cnd$history` is `NULL` for an interrupt that came before training
#' started.) Uncaught, the interrupt says where training stopped. With
#' `checkpoint_dir`, the same call with `resume = TRUE` (and the same
#' `checkpoint_dir`) continues from the last finished epoch.
#'
#' @param teacher The teacher: a Keras model, the path of a saved model, a
#'   list of models (their averaged logits are the targets), or a data frame
#'   (or CSV path) of precomputed logits with the `x_col` column and one
#'   column per class.
#' @param student The student: a Keras model, trained in place, or the path
#'   of a saved model (`.keras` or `.h5`), which is loaded, trained and saved
#'   back to the same file.
#' @param df The training table: a data frame (or tibble) or the path of a
#'   CSV file, one row per image. Or the path of a folder of class
#'   subfolders (`train/cat/1.jpg`, `train/dog/2.jpg`), each image labeled by
#'   its subfolder and the classes being the subfolder names in sorted order;
#'   `directory` is then left out.
#' @param directory The folder holding the image files of a table.
#' @param validation An optional validation table, like `df`. It may use the
#'   other label layout: one-hot columns named by `classes` when `df` has a
#'   label column, or a `label` column when `df` is one-hot.
#' @param x_col Name of the column of image file names (relative to
#'   `directory`).
#' @param y_col Name of the label column (class ids counted from 0, or class
#'   names with `classes`), or a character vector naming one-hot columns.
#' @param classes Class names in class-id order (a factor gives its levels).
#'   `NULL` takes them from the levels of a factor label column, from the
#'   one-hot column names, or numbers the classes.
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
#' @param verbose Show a progress bar and one line of metrics per epoch
#'   (while knitting, as in a vignette, the lines without the bar).
#' @param ... `r options_doc("distill", own = names(formals(distill)))`
#' @return An [rkd_history].
#' @seealso [train_scratch()] for the baseline without a teacher,
#'   [one_hot_labels()], [augmentation()], [rkd_evaluate()].
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' ex <- rkd_example_data(tempfile())
#' models <- rkd_example_models(n_classes = 10, seed = 1)
#' history <- distill(
#'   models$teacher, models$student, ex$train, ex$directory,
#'   validation = ex$validation, classes = ex$classes,
#'   batch_size = 16, epochs = 2, steps_per_epoch = 5, seed = 1
#' )
#' history
#' }
distill <- function(teacher, student, df, directory = NULL, validation = NULL,
                    x_col = "image_id", y_col = "label", classes = NULL,
                    image_size = NULL, rescale = NULL, batch_size = 32,
                    epochs = 10, steps_per_epoch = NULL,
                    validation_steps = NULL, temperature = 3, alpha = 0.1,
                    augment = NULL, seed = NULL, verbose = TRUE, ...) {
  call <- environment()
  check_flag(verbose, "verbose", call = call)
  args <- c(
    run_args(df, directory, validation, x_col, y_col, classes, image_size,
             rescale, batch_size, epochs, steps_per_epoch, validation_steps,
             augment, seed, call),
    list(temperature = py_value(temperature), alpha = py_value(alpha)),
    check_options(list(...), "distill", call = call)
  )
  run_training("distill", teacher, student, df, args, verbose, call)
}

#' Train a student from scratch
#'
#' The baseline for [distill()]: the same data handling and training loop,
#' without a teacher. The loss is the cross-entropy with the labels alone,
#' so only the labeled rows of `df` are trained on.
#'
#' @inheritSection distill Interrupting a run
#' @inheritParams distill
#' @param student The model to train: a Keras model, trained in place, or
#'   the path of a saved model, which is loaded, trained and saved back to
#'   the same file.
#' @param ... `r options_doc("train_scratch", own = names(formals(train_scratch)))`
#' @return An [rkd_history].
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' ex <- rkd_example_data(tempfile())
#' student <- rkd_example_models(seed = 1)$student
#' history <- train_scratch(
#'   student, ex$train, ex$directory, classes = ex$classes,
#'   batch_size = 16, epochs = 2, steps_per_epoch = 5
#' )
#' as.data.frame(history)
#' }
train_scratch <- function(student, df, directory = NULL, validation = NULL,
                          x_col = "image_id", y_col = "label",
                          classes = NULL, image_size = NULL, rescale = NULL,
                          batch_size = 32, epochs = 10,
                          steps_per_epoch = NULL, validation_steps = NULL,
                          augment = NULL, seed = NULL, verbose = TRUE, ...) {
  call <- environment()
  check_flag(verbose, "verbose", call = call)
  args <- c(
    run_args(df, directory, validation, x_col, y_col, classes, image_size,
             rescale, batch_size, epochs, steps_per_epoch, validation_steps,
             augment, seed, call),
    check_options(list(...), "train_scratch", call = call)
  )
  run_training("scratch", NULL, student, df, args, verbose, call)
}


# pykd's keyword arguments, as plain Python values. Nothing is checked here
# but R's own types: pykd checks the values.
run_args <- function(df, directory, validation, x_col, y_col, classes,
                     image_size, rescale, batch_size, epochs,
                     steps_per_epoch, validation_steps, augment, seed, call) {
  c(
    list(
      train = table_arg(df, "df", call = call),
      validation = if (!is.null(validation)) {
        table_arg(validation, "validation", call = call)
      },
      y_col = py_value(y_col)
    ),
    image_args(directory, x_col, factor_classes(classes, y_col, df, validation),
               image_size, rescale, batch_size),
    list(
      epochs = as_nullable_integer(epochs),
      steps_per_epoch = as_nullable_integer(steps_per_epoch),
      validation_steps = as_nullable_integer(validation_steps),
      augment = augment_arg(augment),
      seed = as_nullable_integer(seed),
      verbose = 0L
    )
  )
}

run_training <- function(mode, teacher, student, df, args, verbose, call) {
  module <- pykd()
  teacher_name <- if (mode != "scratch") model_name(teacher)
  student_name <- model_name(student)
  train <- args$train
  args$train <- NULL
  # A student given as a file is trained and saved back to it, never lost.
  student_file <- if (is.character(student) && length(student) == 1) student
  if (!is.null(student_file)) {
    student <- py_call(module$models$load_model, path.expand(student_file),
                       role = "student", .call = call)
  }
  if (mode == "scratch") {
    fun <- module$train_scratch
    positional <- list(student, train)
  } else {
    fun <- if (mode == "noisy") module$noisy_student else module$distill
    positional <- list(model_arg(teacher), student, train)
  }
  if (verbose) {
    hooks <- progress_hooks(on_start = function(info) {
      announce_run(mode, info)
    })
    on.exit(hooks$close(), add = TRUE)
    args$callbacks <- c(list(progress_callback(hooks)), args$callbacks)
  }
  checkpoint_dir <- args$checkpoint_dir
  interrupted <- FALSE
  on_interrupt <- function(info) {
    if (!is_py_object(info$history)) {
      rlang::interrupt()
    }
    # Ctrl-C: the finished epochs are named (and a student file saved) as a
    # finished run's, then travel with the interrupt (see interrupt_run()).
    interrupted <<- TRUE
    history <- history_from_py(info$history)
    if (mode == "noisy" && !is.null(info$histories)) {
      # The rounds finished before, then the interrupted round's finished epochs.
      return(c(lapply(utils::head(info$histories, -1), history_from_py), list(history)))
    }
    history
  }
  result <- do.call(py_call, c(list(fun), positional, args,
                               list(.call = call, .on_interrupt = on_interrupt)))
  # From round 2 of a noised student on, the teacher is the last round's student.
  named <- function(history, round) {
    history$params$teacher_name <- if (mode == "noisy" && round > 1) {
      paste0("round ", round - 1, "'s student")
    } else {
      teacher_name
    }
    history$params$student_name <- student_name
    if (mode == "noisy") history$params$round <- round
    history
  }
  # The noised student's rounds come back as a list of histories, one per round.
  histories <- if (inherits(result, "rkd_history")) {
    list(result)
  } else if (mode == "noisy") {
    lapply(if (is_py_object(result)) reticulate::py_to_r(result) else result, function(history) {
      if (inherits(history, "rkd_history")) history else history_from_py(history)
    })
  } else {
    list(history_from_py(result))
  }
  histories <- Map(named, histories, seq_along(histories))
  if (!is.null(student_file) && nrow(histories[[length(histories)]]$metrics) > 0) {
    save_student_back(student, student_file)
  }
  if (interrupted) {
    if (verbose) hooks$close()
    fun <- c(distill = "distill", scratch = "train_scratch", noisy = "rkd_noisy_student")[[mode]]
    interrupt_run(fun, histories, checkpoint_dir, call)
  }
  if (mode == "noisy") new_rkd_rounds(histories) else histories[[1]]
}

# Saves a student that was given as a file back to it once it has trained,
# and says so.
save_student_back <- function(student, path) {
  saved <- rkd_save_model(student, path)
  cli::cli_inform(c("i" = "Saved the trained student to {.path {saved}}."),
                  class = "rkd_saved_student")
}

# A factor label column names the classes by its levels, in their order,
# when `classes` is NULL: from `df`, else from `validation`.
factor_classes <- function(classes, y_col, ...) {
  if (!is.null(classes) || !is.character(y_col) || length(y_col) != 1) {
    return(classes)
  }
  for (table in list(...)) {
    if (is.data.frame(table) && is.factor(table[[y_col]])) {
      return(levels(table[[y_col]]))
    }
  }
  NULL
}

# Said when training starts, after pykd has checked everything, with the
# counts pykd trains on (a run from scratch trains on the labeled rows only).
announce_run <- function(mode, info) {
  epochs <- info$epochs
  steps <- info$steps
  batch_size <- info$params$batch_size
  n <- info$params$n_train
  labeled <- info$params$n_labeled
  on <- if (is.null(n)) {
    ""
  } else if (mode == "scratch") {
    cli::format_inline(" on {labeled} labeled image{?s}")
  } else {
    cli::format_inline(" on {n} image{?s} ({labeled} labeled)")
  }
  what <- if (mode == "scratch") "Training from scratch" else "Distilling"
  batch <- if (!is.null(batch_size)) paste0(", batch size ", batch_size)
  cli::cli_alert_info(
    "{what}{on}: {epochs} epoch{?s} of {steps} step{?s}{batch}."
  )
}

# How many epochs the checkpoint in `dir` holds (0 when there is none). An
# interrupt while an epoch's checkpoint is written leaves the one before.
checkpoint_epochs <- function(dir) {
  meta <- tryCatch(pykd_module("run.checkpoint")$read_meta(dir), error = function(e) NULL)
  length(meta$records)
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
  if (is.character(x) && length(x) == 1 && !is.na(x)) {
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

#' Distil a noised student, for one round or several
#'
#' The noised student of Xie et al. (2020): the student sees augmented
#' images (and runs its own dropout) while its targets are the teacher's
#' logits of the original images, computed once. This pays where `df` has
#' unlabeled rows. From the second round on, the previous round's student
#' teaches, and the student starts again from its initial weights; it ends
#' with the last round's weights. Each round is [distill()] with
#' `teacher_view = "clean"`.
#'
#' @inheritParams distill
#' @param rounds How many times to distil, at least 1.
#' @param augment The noise: an [augmentation()] (mixup and cutmix cannot
#'   apply: a mixed image has no original), or `NULL` for pykd's default
#'   (rotation 10, shifts and zoom of 10%, horizontal flip). Pass your own for
#'   images whose sides matter.
#' @param ... `r options_doc("noisy_student", own = names(formals(rkd_noisy_student)))`
#'
#'   With several rounds, `checkpoint_dir` holds one folder per round
#'   (`round-1`, ...), and a `hint`'s teacher layer is the student's own layer
#'   from round 2 on.
#' @return An `rkd_rounds` object: a list of [rkd_history] objects, one per
#'   round (`rounds[[2]]` is round 2), each naming its teacher (round 1 the
#'   `teacher` given, round 2 on "round 1's student", ...). `print()` shows
#'   one line per round, `as.data.frame()` every epoch of every round with a
#'   `round` column, and [tidy()][tidy.rkd_history] and
#'   [glance()][glance.rkd_history] work as for a history. Interrupted
#'   (see `?distill`), the interrupt condition holds the finished rounds and
#'   then the interrupted round's finished epochs as `histories` (that
#'   round's alone as `history`); the student holds the weights of that
#'   round's last finished epoch.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' ex <- rkd_example_data(tempfile())
#' models <- rkd_example_models(n_classes = 10, seed = 1)
#' rounds <- rkd_noisy_student(
#'   models$teacher, models$student, ex$train, ex$directory,
#'   classes = ex$classes, rounds = 2, batch_size = 16, epochs = 1,
#'   steps_per_epoch = 5, seed = 1
#' )
#' rounds
#' rounds[[2]]
#' }
rkd_noisy_student <- function(teacher, student, df, directory = NULL,
                              rounds = 1, validation = NULL,
                              x_col = "image_id", y_col = "label",
                              classes = NULL, image_size = NULL,
                              rescale = NULL, batch_size = 32, epochs = 10,
                              steps_per_epoch = NULL, validation_steps = NULL,
                              temperature = 3, alpha = 0.1, augment = NULL,
                              seed = NULL, verbose = TRUE, ...) {
  call <- environment()
  check_flag(verbose, "verbose", call = call)
  args <- c(
    run_args(df, directory, validation, x_col, y_col, classes, image_size,
             rescale, batch_size, epochs, steps_per_epoch, validation_steps,
             augment, seed, call),
    list(rounds = as_nullable_integer(rounds),
         temperature = py_value(temperature), alpha = py_value(alpha)),
    check_options(list(...), "noisy_student", call = call)
  )
  if (is.null(augment)) {
    args$augment <- NULL  # pykd's default noise
  }
  run_training("noisy", teacher, student, df, args, verbose, call)
}
