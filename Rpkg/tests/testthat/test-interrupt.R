# Ctrl-C during training, from a real R session: the finished epochs come
# back as the history, with a warning saying where the run stopped and how to
# continue it.

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
    "warning <- NULL",
    "history <- withCallingHandlers(",
    "  distill(models$teacher, models$student, ex$train, ex$directory,",
    "          classes = ex$classes, batch_size = 8, epochs = 10000,",
    "          steps_per_epoch = 40, checkpoint_dir = checkpoints,",
    "          callbacks = finished),",
    "  rkd_interrupted = function(w) {",
    "    warning <<- conditionMessage(w)",
    "    invokeRestart('muffleWarning')",
    "  }",
    ")",
    "saveRDS(list(history = history, warning = warning), out)"
  ))
  log <- file.path(dir, "session.log")
  session <- processx::process$new(
    run$rscript, run$args, env = c("current", R_LIBS = run$libs),
    stdout = log, stderr = "2>&1", cleanup = TRUE
  )
  withr::defer(if (session$is_alive()) session$kill())
  # Python starts, trains the first epoch, then the interrupt (Ctrl-C). Epochs
  # of 40 steps keep the session in Python's training steps nearly all the
  # time, not in the R callback, where R would take the interrupt itself.
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

test_that("the interrupt warning says where the run stopped", {
  history <- rkd:::new_rkd_history(
    list(epoch = list(1L, 2L), loss = list(1, 0.9)),
    list(mode = "distill", epochs = 12L, interrupted = TRUE)
  )
  expect_snapshot(rkd:::warn_interrupted(history, NULL, call = quote(distill())))
  empty <- rkd:::new_rkd_history(list(epoch = list()), list(mode = "scratch", epochs = 3L))
  expect_snapshot(rkd:::warn_interrupted(empty, NULL, call = quote(train_scratch())))
})
