# Ctrl-C during training, from a real R session: the finished epochs come
# back as the history, with a warning saying where the run stopped and how to
# continue it.

# Script lines that run `call` (lines of R code) in the fresh session, keep the
# message of its rkd_interrupted warning, and save both to `out`.
saving_interrupted_run <- function(call) {
  c(
    "warning <- NULL",
    "history <- withCallingHandlers(",
    paste0("  ", call, c(rep("", length(call) - 1), ",")),
    "  rkd_interrupted = function(w) {",
    "    warning <<- conditionMessage(w)",
    "    invokeRestart('muffleWarning')",
    "  }",
    ")",
    "saveRDS(list(history = history, warning = warning), out)"
  )
}

test_that("an interrupted distill() returns the finished epochs and says how to resume", {
  skip_on_cran()
  skip_on_os("windows")
  skip_if_not_installed("processx")
  skip_if_no_pykd()
  dir <- withr::local_tempdir("rkd-interrupt-")
  flag <- file.path(dir, "epoch-finished")
  out <- file.path(dir, "result.rds")
  checkpoints <- file.path(dir, "checkpoints")
  run <- fresh_r_script(c(
    sprintf("flag <- %s", deparse(flag)),
    sprintf("out <- %s", deparse(out)),
    sprintf("checkpoints <- %s", deparse(checkpoints)),
    "ex <- rkd_example_data(tempfile())",
    "models <- rkd_example_models(seed = 1)",
    "finished <- rkd:::pykd()$FunctionCallback(on_epoch_end = function(epoch, logs) {",
    "  writeLines(as.character(epoch), flag)",
    "  NULL",
    "})",
    saving_interrupted_run(c(
      "distill(models$teacher, models$student, ex$train, ex$directory,",
      "        classes = ex$classes, batch_size = 8, epochs = 10000,",
      "        steps_per_epoch = 40, checkpoint_dir = checkpoints,",
      "        callbacks = finished)"
    ))
  ))
  log <- file.path(dir, "session.log")
  session <- processx::process$new(
    run$rscript, run$args, env = c("current", R_LIBS = run$libs),
    stdout = log, stderr = "2>&1", cleanup = TRUE
  )
  withr::defer(if (session$is_alive()) session$kill())
  # Python starts, trains the first epoch, then the interrupt (Ctrl-C): it
  # may land in Python's training steps or in R code Python calls back.
  deadline <- Sys.time() + 180
  while (!file.exists(flag) && session$is_alive() && Sys.time() < deadline) {
    Sys.sleep(0.2)
  }
  expect_true(file.exists(flag), info = paste(readLines(log), collapse = "\n"))
  session$interrupt()
  session$wait(timeout = 60000)
  expect_false(session$is_alive(), label = "the session ended within 60 s of the interrupt")
  expect_true(file.exists(out), info = paste(readLines(log), collapse = "\n"))
  result <- readRDS(out)
  history <- result$history
  expect_s3_class(history, "rkd_history")
  epochs <- nrow(as.data.frame(history))
  expect_gte(epochs, 1)
  expect_lt(epochs, 10000)
  expect_equal(as.data.frame(history)$epoch, seq_len(epochs))
  expect_true(history$params$interrupted)
  expect_match(result$warning, sprintf("interrupted after epoch %d of 10000", epochs))
  expect_match(result$warning, "resume = TRUE", fixed = TRUE)
  expect_match(result$warning, "checkpoint_dir", fixed = TRUE)
  expect_output(print(history), sprintf("interrupted after epoch %d of 10000", epochs))
})

test_that("Ctrl-C in a user's R callback returns the finished epochs", {
  skip_on_cran()
  skip_on_os("windows")
  skip_if_no_pykd()
  out <- withr::local_tempfile(fileext = ".rds")
  # R takes the interrupt itself, in the callback's loop, during epoch 2.
  log <- run_fresh_r(c(
    sprintf("out <- %s", deparse(out)),
    "ex <- rkd_example_data(tempfile())",
    "models <- rkd_example_models(seed = 1)",
    "ctrl_c <- rkd:::pykd()$FunctionCallback(on_epoch_end = function(epoch, logs) {",
    "  if (epoch == 2) {",
    "    tools::pskill(Sys.getpid(), tools::SIGINT)",
    "    for (i in seq_len(1e8)) NULL",
    "  }",
    "  NULL",
    "})",
    saving_interrupted_run(c(
      "distill(models$teacher, models$student, ex$train, ex$directory,",
      "        classes = ex$classes, batch_size = 8, epochs = 5,",
      "        steps_per_epoch = 2, callbacks = ctrl_c, verbose = FALSE)"
    ))
  ))
  expect_true(file.exists(out), info = paste(log, collapse = "\n"))
  result <- readRDS(out)
  expect_equal(as.data.frame(result$history)$epoch, 1:2)
  expect_true(result$history$params$interrupted)
  expect_match(result$warning, "interrupted after epoch 2 of 5")
})

test_that("a Python error after a Ctrl-C that R took itself stays that error", {
  skip_on_cran()
  skip_on_os("windows")
  skip_if_no_pykd()
  # reticulate 1.28 then turns the next Python error into an interrupt.
  log <- run_fresh_r(c(
    "rkd:::pykd()",
    "tryCatch({",
    "  tools::pskill(Sys.getpid(), tools::SIGINT)",
    "  for (i in seq_len(1e8)) NULL",
    "}, interrupt = function(cnd) NULL)",
    r"[reticulate::py_run_string("def refuse():\n    from pykd import DataError\n    raise DataError('a bad table')")]",
    "outcome <- tryCatch(rkd:::py_call(reticulate::py$refuse),",
    "  interrupt = function(cnd) 'interrupt', error = function(e) class(e)[1])",
    "cat('outcome:', outcome, '\\n')"
  ))
  expect_true("outcome: rkd_data_error " %in% log, info = paste(log, collapse = "\n"))
})

test_that("the interrupt warning says where the run stopped", {
  history <- rkd:::new_rkd_history(
    list(epoch = list(1L, 2L), loss = list(1, 0.9)),
    list(mode = "distill", epochs = 12L, interrupted = TRUE)
  )
  expect_snapshot(rkd:::warn_interrupted(history, NULL, call = quote(distill())))
  empty <- rkd:::new_rkd_history(list(epoch = list()), list(mode = "scratch", epochs = 3L))
  expect_snapshot(rkd:::warn_interrupted(empty, NULL, call = quote(train_scratch())))
})
