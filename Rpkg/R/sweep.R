#' Compare distillation settings
#'
#' Distils a fresh copy of `student` (always from the same initial weights)
#' once for every combination of `temperatures` and `alphas`, and returns
#' one row of final metrics per setting. Without augmentation the teacher's
#' logits are computed once and shared by all runs. Needs a `pykd` that has
#' `sweep()`.
#'
#' @inheritParams distill
#' @param temperatures Temperatures to try (each > 0).
#' @param alphas Values of `alpha` to try (each in \[0, 1\]).
#' @param ... Further `pykd` options, as for [distill()].
#' @return A data frame with columns `temperature`, `alpha`, `epochs`, the
#'   final epoch's metrics and, with a validation table,
#'   `best_val_accuracy`; one row per setting.
#' @export
#' @examples
#' \dontrun{
#' ex <- rkd_example_data(tempfile())
#' models <- rkd_example_models(seed = 1)
#' rkd_sweep(models$teacher, models$student, ex$train, ex$directory,
#'           validation = ex$validation, classes = ex$classes,
#'           temperatures = c(2, 4), alphas = c(0.1, 0.5),
#'           epochs = 2, steps_per_epoch = 5)
#' }
rkd_sweep <- function(teacher, student, df, directory,
                      temperatures = c(1, 2, 4, 8), alphas = c(0.1, 0.5),
                      validation = NULL, x_col = "image_id", y_col = "label",
                      classes = NULL, image_size = NULL, rescale = NULL,
                      batch_size = 32, epochs = 10, steps_per_epoch = NULL,
                      validation_steps = NULL, augment = NULL, seed = NULL,
                      verbose = TRUE, ...) {
  call <- environment()
  check_model_arg(teacher, "teacher", call = call, teacher = TRUE)
  check_model_arg(student, "student", call = call)
  if (!is.numeric(temperatures) || length(temperatures) < 1) {
    shown <- describe_value(temperatures)
    abort_input(c(
      "x" = "{.arg temperatures} must be a numeric vector, not {shown}.",
      "i" = "For example {.code temperatures = c(1, 2, 4, 8)}."
    ), call = call)
  }
  if (!is.numeric(alphas) || length(alphas) < 1) {
    shown <- describe_value(alphas)
    abort_input(c(
      "x" = "{.arg alphas} must be a numeric vector, not {shown}.",
      "i" = "For example {.code alphas = c(0.1, 0.5)}."
    ), call = call)
  }
  for (temperature in temperatures) check_temperature(temperature, call = call)
  for (alpha in alphas) check_alpha(alpha, call = call)
  run <- prepare_run(
    df = df, directory = directory, validation = validation, x_col = x_col,
    y_col = y_col, classes = classes, image_size = image_size,
    rescale = rescale, batch_size = batch_size, epochs = epochs,
    steps_per_epoch = steps_per_epoch, validation_steps = validation_steps,
    augment = augment, seed = seed, verbose = verbose,
    options = list(...), allowed = distill_options, call = call
  )
  module <- pykd()
  if (!pykd_has("sweep")) {
    abort_old_pykd("sweep", call = call)
  }
  teacher <- resolve_model(teacher, call = call)
  student <- resolve_model(student, call = call)
  args <- run$args
  args$temperatures <- as.list(as.double(temperatures))
  args$alphas <- as.list(as.double(alphas))
  if (verbose) {
    hooks <- progress_hooks()
    on.exit(hooks$close(), add = TRUE)
    args$callbacks <- c(list(progress_callback(hooks)), args$callbacks)
    n <- length(temperatures) * length(alphas)
    cli::cli_alert_info("Sweeping {n} setting{?s} of temperature and alpha.")
  }
  frame <- with_py_errors(
    do.call(module$sweep, c(list(teacher, student, run$train), args)),
    call = call
  )
  py_frame_to_df(frame, call = call)
}
