# Ctrl-C during a run: R's own interrupt, carrying what finished.
#
# A Ctrl-C ends the calling R code as R's own interrupt does, loops included:
# the condition has class c("rkd_interrupt", "interrupt", "condition") (R's
# interrupt is c("interrupt", "condition")), so tryCatch(interrupt = ) and
# withCallingHandlers(interrupt = ) see it and try() and error handlers do
# not. Uncaught, it says where the run stopped and unwinds to the top level,
# which ends an Rscript ("Execution halted", exit status 1) as a real Ctrl-C
# does, and returns an interactive session to its prompt. The condition's
# fields (`history`, `histories`, `sweep`) hold what finished.

# Signals the interrupt condition with `message` (cli bullets) and `fields`;
# never returns.
signal_rkd_interrupt <- function(message, fields = list(), call = NULL) {
  text <- cli::format_message(message, .envir = parent.frame())
  cnd <- structure(
    c(list(message = text, call = call), fields),
    class = c("rkd_interrupt", "interrupt", "condition")
  )
  # An exiting handler (tryCatch(interrupt = )) ends here; calling handlers run.
  signalCondition(cnd)
  # Nobody took it: say what finished, then end as R's own interrupt does.
  cat(text, "\n", sep = "", file = stderr())
  invokeRestart("abort")
}

# The interrupt of distill(), train_scratch() or rkd_noisy_student(): its
# `history` is the finished epochs of the run it stopped (for the noised
# student `histories` is every round so far, that one last).
interrupt_run <- function(fun, histories, checkpoint_dir, call) {
  history <- histories[[length(histories)]]
  done <- nrow(history$metrics)
  total <- history$params$epochs
  where <- if (done == 0) {
    "Training was interrupted before its first epoch finished."
  } else {
    "Training was interrupted after epoch {done} of {total}."
  }
  weights <- if (done == 0) {
    "The student holds the weights it started with."
  } else {
    "The student holds the weights of epoch {done}."
  }
  saved <- if (!is.null(checkpoint_dir)) checkpoint_epochs(checkpoint_dir) else 0L
  resume <- if (saved > 0) {
    c("i" = "The checkpoint in {.path {checkpoint_dir}} holds epoch {saved}: continue the run with {.code resume = TRUE} and the same {.arg checkpoint_dir}.")
  }
  catch <- paste0("tryCatch(", fun, "(...), interrupt = function(cnd) cnd$history)")
  fields <- list(history = history)
  if (fun == "rkd_noisy_student") {
    fields$histories <- histories
  }
  signal_rkd_interrupt(
    c("!" = where, "i" = weights, resume,
      "i" = "To keep the history of the finished epochs, catch the interrupt: {.code {catch}}."),
    fields, call = call
  )
}

# The interrupt of rkd_sweep(): `sweep` is the finished settings' table,
# `history` the finished epochs of the setting it stopped (NULL between
# settings).
interrupt_sweep <- function(sweep, history, n_settings, keep_best, call) {
  done <- nrow(sweep)
  kept <- if (keep_best && "best" %in% names(sweep)) {
    c("i" = "The student holds the weights of the best finished setting.")
  }
  catch <- "tryCatch(rkd_sweep(...), interrupt = function(cnd) cnd$sweep)"
  signal_rkd_interrupt(
    c("!" = "The sweep was interrupted after {done} of {n_settings} setting{?s}.",
      kept,
      "i" = "To keep the finished settings' table, catch the interrupt: {.code {catch}}."),
    list(sweep = sweep, history = history), call = call
  )
}
