#' Compare distillation settings
#'
#' Distils a fresh copy of `student` (always from the same initial weights)
#' once for every combination of `temperatures` and `alphas`, and returns
#' one row of final metrics per setting. Without augmentation the teacher's
#' logits are computed once and shared by all runs.
#'
#' @inheritParams distill
#' @param temperatures Temperatures to try (each > 0).
#' @param alphas Values of `alpha` to try (each in \[0, 1\]).
#' @param keep_best If `TRUE`, `student` ends with the weights of the
#'   setting with the highest final `val_accuracy` (ties: the lower final
#'   `val_loss`), marked `TRUE` in a `best` column; needs `validation`. A
#'   student given as a file is saved back to it.
#' @param ... `r options_doc("sweep", own = names(formals(rkd_sweep)))`
#' @return A data frame with columns `temperature`, `alpha`, `epochs`, the
#'   final epoch's metrics and, with a validation table,
#'   `best_val_accuracy` (and `best` with `keep_best = TRUE`); one row per
#'   setting. A tibble when `df` is one, else a data.frame; of class
#'   `rkd_sweep` as well, for [tidy()][tidy.rkd_history] (the rows as a
#'   tibble) and [glance()][glance.rkd_history] (one row: the number of
#'   settings and the best one).
#' @section Interrupting a sweep:
#' Ctrl-C stops the calling R code as for [distill()] (see its section
#' "Interrupting a run"), and the finished settings are not lost: the
#' interrupt condition carries their table as `sweep` (and the finished
#' epochs of the setting it stopped as `history`). With `keep_best = TRUE`
#' the student holds the best finished setting's weights.
#'
#' ```
#' settings <- tryCatch(
#'   rkd_sweep(teacher, student, train, "images", validation = val),
#'   interrupt = function(cnd) cnd$sweep
#' )
#' ```
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' ex <- rkd_example_data(tempfile())
#' models <- rkd_example_models(seed = 1)
#' rkd_sweep(models$teacher, models$student, ex$train, ex$directory,
#'           validation = ex$validation, classes = ex$classes,
#'           temperatures = c(2, 4), alphas = c(0.1, 0.5),
#'           batch_size = 16, epochs = 1, steps_per_epoch = 3,
#'           validation_steps = 2, seed = 1)
#' }
rkd_sweep <- function(teacher, student, df, directory,
                      temperatures = c(1, 2, 4, 8), alphas = c(0.1, 0.5),
                      validation = NULL, x_col = "image_id", y_col = "label",
                      classes = NULL, image_size = NULL, rescale = NULL,
                      batch_size = 32, epochs = 10, steps_per_epoch = NULL,
                      validation_steps = NULL, augment = NULL, seed = NULL,
                      verbose = TRUE, keep_best = FALSE, ...) {
  call <- environment()
  check_flag(verbose, "verbose", call = call)
  check_flag(keep_best, "keep_best", call = call)
  args <- c(
    run_args(df, directory, validation, x_col, y_col, classes, image_size,
             rescale, batch_size, epochs, steps_per_epoch, validation_steps,
             augment, seed, call),
    # Always lists, so that one value is a sweep of one.
    list(temperatures = as.list(py_value(temperatures)),
         alphas = as.list(py_value(alphas)),
         keep_best = keep_best),
    check_options(list(...), "sweep", call = call)
  )
  train <- args$train
  args$train <- NULL
  module <- pykd()
  # The best student, when kept, is saved back to a file it came from.
  student_file <- if (keep_best && is.character(student) && length(student) == 1) student
  if (!is.null(student_file)) {
    student <- py_call(module$models$load_model, path.expand(student_file),
                       role = "student", .call = call)
  }
  if (verbose) {
    # pykd runs the settings in this order: every alpha for each temperature.
    grid <- expand.grid(alpha = unlist(args$alphas),
                        temperature = unlist(args$temperatures))
    run <- 0
    hooks <- progress_hooks(on_start = function(info) {
      run <<- run + 1
      announce_setting(run, grid, info)
    })
    on.exit(hooks$close(), add = TRUE)
    args$callbacks <- c(list(progress_callback(hooks)), args$callbacks)
    n <- nrow(grid)
    cli::cli_alert_info("Sweeping {n} setting{?s} of temperature and alpha.")
  }
  # Ctrl-C: the finished settings travel with the interrupt (see interrupt_sweep()).
  interrupted <- NULL
  on_interrupt <- function(info) {
    interrupted <<- info
    NULL
  }
  frame <- do.call(py_call, c(
    list(module$sweep, model_arg(teacher), model_arg(student), train),
    args, list(.call = call, .convert = FALSE, .on_interrupt = on_interrupt)
  ))
  result <- if (is.null(interrupted)) {
    py_frame_to_df(frame, call = call)
  } else {
    py_columns_to_df(interrupted$sweep)
  }
  if (!is.null(student_file) && (is.null(interrupted) || "best" %in% names(result))) {
    save_student_back(student, student_file)
  }
  result <- new_rkd_sweep(result, df)
  if (!is.null(interrupted)) {
    if (verbose) hooks$close()
    history <- if (is_py_object(interrupted$history)) history_from_py(interrupted$history)
    n_settings <- length(args$temperatures) * length(args$alphas)
    interrupt_sweep(result, history, n_settings, keep_best, call)
  }
  result
}

# "Setting 2 of 4: temperature 2, alpha 0.5; 1 epoch of ...", when that run
# starts.
announce_setting <- function(run, grid, info) {
  n <- nrow(grid)
  if (run > n) {
    return(invisible())
  }
  temperature <- format(grid$temperature[run])
  alpha <- format(grid$alpha[run])
  epochs <- info$epochs
  steps <- info$steps
  images <- info$params$n_train
  on <- if (!is.null(images)) cli::format_inline(" on {images} image{?s}")
  cli::cli_alert_info(
    "Setting {run} of {n}: temperature {temperature}, alpha {alpha}; {epochs} epoch{?s} of {steps} step{?s}{on}."
  )
}
