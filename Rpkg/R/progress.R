# Progress of a training run in R: a cli progress bar per epoch and a line of
# metrics when an epoch ends, fed by pykd.FunctionCallback from the Python
# loop. Python's own progress output is turned off (verbose = 0).

# A list of R functions with the signatures of pykd.FunctionCallback's
# hooks, sharing one state environment. `bar_env` owns the progress bar;
# `on_start(info)` runs when training starts, once pykd has checked every
# input (info: epochs and steps per epoch).
progress_hooks <- function(bar_env = parent.frame(), on_start = NULL) {
  state <- new.env(parent = emptyenv())
  state$epochs <- NA_integer_
  state$steps <- NA_integer_
  state$bar <- NULL
  state$started <- Sys.time()

  close_bar <- function() {
    if (!is.null(state$bar)) {
      cli::cli_progress_done(id = state$bar, .envir = bar_env)
      state$bar <- NULL
    }
  }

  list(
    on_train_begin = function(info) {
      state$epochs <- if (is.null(info$epochs)) NA_integer_ else as.integer(info$epochs)
      state$steps <- if (is.null(info$steps)) NA_integer_ else as.integer(info$steps)
      state$started <- Sys.time()
      if (!is.null(on_start)) {
        on_start(info)
      }
      NULL
    },
    on_epoch_begin = function(epoch) {
      close_bar()
      state$epoch <- as.integer(epoch)
      status <- sprintf("Epoch %d/%d", state$epoch, state$epochs)
      total <- if (is.na(state$steps) || state$steps < 1) NA else state$steps
      state$bar <- cli::cli_progress_bar(
        name = status,
        total = total,
        clear = TRUE,
        .envir = bar_env
      )
      NULL
    },
    on_batch_end = function(step, steps) {
      if (!is.null(state$bar)) {
        cli::cli_progress_update(id = state$bar, set = as.integer(step),
                                 .envir = bar_env)
      }
      NULL
    },
    on_epoch_end = function(epoch, logs) {
      close_bar()
      cli::cli_text(epoch_line(epoch, state$epochs, logs))
      NULL
    },
    close = close_bar
  )
}

# "Epoch 3/12: loss 1.234, accuracy 0.5612, val_loss ..." as plain text for
# cli (braces escaped).
epoch_line <- function(epoch, epochs, logs) {
  logs <- logs[!vapply(logs, is.null, logical(1))]
  order <- c(history_columns, validation_columns)
  keys <- c(intersect(order, names(logs)), setdiff(names(logs), order))
  keys <- setdiff(keys, "epoch")
  values <- vapply(keys, function(k) as.double(logs[[k]]), double(1))
  values <- values[!is.na(values)]
  metrics <- paste0(names(values), " ", format_metric(values), collapse = ", ")
  escape_braces(sprintf("Epoch %d/%d: %s", as.integer(epoch),
                        as.integer(epochs), metrics))
}

# The pykd callback object for `hooks`.
progress_callback <- function(hooks) {
  pykd()$FunctionCallback(
    on_train_begin = hooks$on_train_begin,
    on_epoch_begin = hooks$on_epoch_begin,
    on_batch_end = hooks$on_batch_end,
    on_epoch_end = hooks$on_epoch_end
  )
}
