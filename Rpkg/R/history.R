# The training history returned by distill() and train_scratch(): plain R
# data only (a data frame of per-epoch metrics and a list of settings), so it
# survives saveRDS() and needs no Python to print or plot.

history_columns <- c("epoch", "loss", "student_loss", "distillation_loss",
                     "accuracy")
validation_columns <- c("val_loss", "val_accuracy")

new_rkd_history <- function(metrics, params = list()) {
  metrics <- as.list(metrics)
  n <- length(metrics$epoch)
  columns <- history_columns
  if (any(validation_columns %in% names(metrics))) {
    columns <- c(columns, validation_columns)
  }
  cols <- lapply(columns, function(col) {
    values <- metrics[[col]]
    if (is.null(values)) rep(NA_real_, n) else as_numbers(values)
  })
  names(cols) <- columns
  extra <- setdiff(names(metrics), columns)
  for (col in extra) {
    values <- as_numbers(metrics[[col]])
    if (length(values) == n) cols[[col]] <- values
  }
  df <- as.data.frame(cols, stringsAsFactors = FALSE, optional = TRUE)
  df$epoch <- as.integer(df$epoch)
  structure(
    list(metrics = df, params = plain_list(params)),
    class = "rkd_history"
  )
}

# Numbers from Python: an R vector, or a list with NULL for None.
as_numbers <- function(x) {
  if (is.list(x)) {
    return(py_numbers(x))
  }
  as.double(x)
}

# Keep only plain R values (drop anything that is still a Python object).
plain_list <- function(x) {
  if (inherits(x, "python.builtin.object")) {
    return(NULL)
  }
  if (is.list(x)) {
    out <- lapply(x, plain_list)
    keep <- !vapply(x, inherits, logical(1), what = "python.builtin.object")
    return(out[keep])
  }
  x
}

#' Training history
#'
#' [distill()] and [train_scratch()] return an `rkd_history`: the metrics of
#' every epoch and the settings of the run, as plain R data, so it can be
#' saved with [saveRDS()] and used without Python.
#'
#' * `as.data.frame()` gives one row per epoch with columns `epoch`,
#'   `loss` (the loss that was minimised), `student_loss` (the hard-label
#'   cross-entropy), `distillation_loss` (the temperature-scaled divergence
#'   from the teacher), `accuracy`, when there was a validation table
#'   `val_loss` and `val_accuracy`, then `learning_rate` (the optimizer's rate
#'   as the epoch ended, as Keras' learning-rate callbacks log it).
#' * `print()` shows what was trained and the final epoch.
#' * `plot()` draws the losses and accuracies by epoch, one colour per
#'   series, validation series dashed, each kind of figure in its own panel
#'   with its own scale: `val_loss` (a hard-label loss) beside the training
#'   hard-label loss `student_loss`, while `loss` (the weighted loss that
#'   was minimised) and `distillation_loss` have panels of their own. In a
#'   run from scratch the loss is the hard-label loss, drawn once as `loss`.
#'   `metrics` chooses the columns to draw.
#'
#' A history returned after an interrupt (see [distill()]) holds the
#' finished epochs, and `params$interrupted` is `TRUE`.
#'
#' @param x An `rkd_history`.
#' @param row.names,optional Ignored; for compatibility with the generic.
#' @param ... Ignored.
#' @name rkd_history
#' @return `as.data.frame()`: a data frame. `print()`: `x`, invisibly.
#' @examplesIf rkd_available()
#' \donttest{
#' ex <- rkd_example_data(tempfile())
#' models <- rkd_example_models(seed = 1)
#' history <- distill(models$teacher, models$student, ex$train, ex$directory,
#'                    validation = ex$validation, classes = ex$classes,
#'                    batch_size = 16, epochs = 2, steps_per_epoch = 5,
#'                    validation_steps = 2, seed = 1)
#' history
#' as.data.frame(history)
#' plot(history)
#' }
NULL

#' @rdname rkd_history
#' @export
as.data.frame.rkd_history <- function(x, row.names = NULL, optional = FALSE,
                                      ...) {
  x$metrics
}

#' @export
format.rkd_history <- function(x, ...) {
  p <- x$params
  m <- x$metrics
  mode <- if (identical(p$mode, "scratch")) "training from scratch" else
    "knowledge distillation"
  n_epochs <- nrow(m)
  lines <- paste0(
    "<rkd_history> ", mode, ": ", n_epochs, " epoch", if (n_epochs != 1) "s",
    if (!is.null(p$steps_per_epoch)) {
      paste0(" of ", p$steps_per_epoch, " steps")
    },
    if (!is.null(p$batch_size)) paste0(", batch size ", p$batch_size)
  )
  data <- c(
    if (!is.null(p$n_train)) {
      paste0(big(p$n_train), " training images",
             if (!is.null(p$n_labeled)) paste0(" (", big(p$n_labeled), " labeled)"))
    },
    if (!is.null(p$n_validation) && p$n_validation > 0) {
      paste0(big(p$n_validation), " validation images")
    },
    if (length(p$classes) > 0) {
      paste0(length(p$classes), " classes")
    }
  )
  if (length(data) > 0) {
    lines <- c(lines, paste0("Data:     ", paste(data, collapse = ", ")))
  }
  if (identical(p$mode, "scratch")) {
    if (!is.null(p$student_params)) {
      lines <- c(lines, paste0("Model:    ",
                               model_label(p$student_name, p$student_params)))
    }
  } else {
    if (!is.null(p$teacher_params) || !is.null(p$teacher_name)) {
      lines <- c(lines, paste0("Teacher:  ",
                               model_label(p$teacher_name, p$teacher_params)))
    }
    if (!is.null(p$student_params)) {
      lines <- c(lines, paste0("Student:  ",
                               model_label(p$student_name, p$student_params)))
    }
  }
  if (!identical(p$mode, "scratch") &&
      (!is.null(p$temperature) || !is.null(p$alpha))) {
    lines <- c(lines, paste0(
      "Loss:     alpha = ", format(p$alpha), " x hard-label loss + ",
      "(1 - alpha) x distillation loss at temperature ", format(p$temperature)
    ))
  }
  rate <- format_rate(p$learning_rate)
  if (!is.null(rate)) {
    lines <- c(lines, paste0("Rate:     ", rate))
  }
  if (!is.null(p$feature_cache)) {
    values <- prod(unlist(p$feature_cache$shape))
    lines <- c(lines, paste0(
      "Cached:   the student's frozen layers up to '", p$feature_cache$ends_at,
      "', computed once per image (", big(values), " values each)"
    ))
  }
  if (n_epochs > 0) {
    last <- m[n_epochs, setdiff(names(m), hidden_columns(x)), drop = FALSE]
    values <- unlist(last)
    values <- values[!is.na(values)]
    shown <- paste0(names(values), " ", format_metric(values), collapse = ", ")
    lines <- c(lines, paste0("Epoch ", m$epoch[n_epochs], ":  ", shown))
  } else {
    lines <- c(lines, "No epoch finished.")
  }
  if (isTRUE(p$interrupted)) {
    lines <- c(lines, paste0("Stopped:  interrupted after epoch ", n_epochs,
                             if (!is.null(p$epochs)) paste0(" of ", p$epochs)))
  }
  if (!is.null(p$seconds)) {
    resumed <- if (is.null(p$resumed_after_epoch)) 0 else p$resumed_after_epoch
    part <- if (resumed > 0 && n_epochs > resumed) {
      which <- if (resumed + 1 == n_epochs) {
        paste("epoch", n_epochs)
      } else {
        paste0("epochs ", resumed + 1, "-", n_epochs)
      }
      paste0(" (this call: ", which, ", resumed from the checkpoint)")
    }
    lines <- c(lines, paste0("Time:     ", format_seconds(p$seconds), part))
  }
  lines
}

#' @rdname rkd_history
#' @export
print.rkd_history <- function(x, ...) {
  cli::cat_line(format(x))
  invisible(x)
}

# The learning rate as pykd ran it (history params$learning_rate), in words.
format_rate <- function(rate) {
  if (!is.list(rate) || is.null(rate$schedule)) {
    return(NULL)
  }
  switch(rate$schedule,
    cosine = paste0(
      if (rate$warmup_steps > 0) paste0("up to ", format(rate$peak), " over ", rate$warmup_steps, " steps, then ")
      else paste0("from ", format(rate$peak), ", "),
      "a cosine decay to 0 at step ", big(rate$steps)
    ),
    constant = paste0("fixed at ", format(rate$rate)),
    paste0("a ", rate$schedule, " schedule")
  )
}

big <- function(n) {
  formatC(as.numeric(n), format = "d", big.mark = ",")
}

model_label <- function(name, params) {
  count <- if (is.numeric(params) && length(params) == 1) {
    paste0(big(params), " parameters")
  } else if (length(params) > 1) {
    paste0(length(params), " models, ", big(sum(unlist(params))), " parameters")
  } else {
    "precomputed logits"
  }
  if (identical(name, "precomputed logits")) {
    return(name)
  }
  if (!is.null(name) && length(name) == 1 && nzchar(name)) {
    paste0(name, " (", count, ")")
  } else {
    paste0("(", count, ")")
  }
}

format_metric <- function(x) {
  trimws(formatC(x, digits = 4, format = "fg"))
}

format_seconds <- function(s) {
  s <- as.numeric(s)
  if (s < 60) {
    return(paste0(format(round(s, 1), nsmall = 1), " s"))
  }
  minutes <- floor(s / 60)
  paste0(minutes, " min ", round(s - 60 * minutes), " s")
}

# Columns not worth showing: the epoch itself, and the distillation loss of
# a run without a teacher.
hidden_columns <- function(x) {
  c("epoch", if (identical(x$params$mode, "scratch")) "distillation_loss")
}
