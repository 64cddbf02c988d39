# Progress of a training run in R: a cli progress bar per epoch (none while
# knitting) and a line of metrics when an epoch ends, fed by
# pykd.FunctionCallback from the Python loop. Python's own progress output is
# turned off (verbose = 0).

# A list of R functions with the signatures of pykd.FunctionCallback's
# hooks (and of the set_run hook pykd's trainer calls with the built run),
# sharing one state environment. `bar_env` owns the progress bar;
# `on_start(info)` runs when a training run starts, once pykd has checked
# every input (info: epochs, steps per epoch, and params, what the run's
# history will hold as params: n_train, n_labeled, batch_size, ...). A sweep
# or out-of-fold run starts several training runs: `on_start` is called for
# each.
progress_hooks <- function(bar_env = parent.frame(), on_start = NULL) {
  state <- new.env(parent = emptyenv())
  state$epochs <- NA_integer_
  state$steps <- NA_integer_
  state$bar <- NULL
  state$started <- Sys.time()
  state$params <- NULL

  close_bar <- function() {
    if (!is.null(state$bar)) {
      cli::cli_progress_done(id = state$bar, .envir = bar_env)
      state$bar <- NULL
    }
  }

  list(
    set_run = function(run) {
      state$params <- tryCatch(
        reticulate::py_to_r(pykd_module("run.trainer", convert = FALSE)$run_params(run)),
        error = function(e) NULL
      )
      NULL
    },
    on_train_begin = function(info) {
      state$epochs <- if (is.null(info$epochs)) NA_integer_ else as.integer(info$epochs)
      state$steps <- if (is.null(info$steps)) NA_integer_ else as.integer(info$steps)
      state$started <- Sys.time()
      if (!is.null(on_start)) {
        info$params <- state$params
        on_start(info)
      }
      state$params <- NULL
      NULL
    },
    on_epoch_begin = function(epoch) {
      close_bar()
      state$epoch <- as.integer(epoch)
      if (knitting()) {
        return(NULL)  # no bar: each of its frames would stay in the document
      }
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

# Whether knitr is knitting (a vignette or R Markdown document rendered):
# a progress bar cannot redraw in place there, and every frame would stay in
# the output, so there is none; the line of metrics per epoch stays.
knitting <- function() {
  isTRUE(getOption("knitr.in.progress"))
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

# The pykd callback object for `hooks`. pykd's trainer hands a callback with
# a set_run method the built run before training starts: R reads the run's
# params (what the history will report) from it. Ctrl-C while a hook runs
# reaches Python as a KeyboardInterrupt (see interruptible()).
progress_callback <- function(hooks) {
  callback <- pykd()$FunctionCallback(
    on_train_begin = interruptible(hooks$on_train_begin),
    on_epoch_begin = interruptible(hooks$on_epoch_begin),
    on_batch_end = interruptible(hooks$on_batch_end),
    on_epoch_end = interruptible(hooks$on_epoch_end)
  )
  reticulate::py_set_attr(callback, "set_run", interruptible(hooks$set_run))
  callback
}
