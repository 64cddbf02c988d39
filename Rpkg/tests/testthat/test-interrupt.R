# Ctrl-C during training, from a real R session: an interrupt that ends the
# calling R code (loops included) and carries what finished, for
# tryCatch(interrupt = ) to keep.

# Script lines for a fresh session: `mark(name)` is a Keras callback that
# records the student's weight sum at each epoch's end and then writes the
# epoch to the file `name` in `dir`; `weight_sum(model)` is that sum now.
marking_epochs <- c(
  "reticulate::py_run_string(paste(",
  "  'import numpy as np, keras',",
  "  'def weight_sum(m): return float(sum(float(np.sum(w)) for w in m.get_weights()))',",
  "  'class Mark(keras.callbacks.Callback):',",
  "  '    def __init__(self, path):',",
  "  '        super().__init__(); self.path = path; self.sums = []',",
  "  '    def on_epoch_end(self, epoch, logs=None):',",
  "  '        self.sums.append(weight_sum(self.model))',",
  "  '        open(self.path, \"w\").write(str(epoch + 1))',",
  "  sep = '\\n'))",
  "mark <- function(name) reticulate::py$Mark(file.path(dir, name))",
  "weight_sum <- function(model) reticulate::py$weight_sum(model)"
)

# Waits until `file` exists (or the session ends), then sends the session a
# SIGINT, as Ctrl-C does.
ctrl_c_once <- function(session, file, log) {
  deadline <- Sys.time() + 180
  while (!file.exists(file) && session$is_alive() && Sys.time() < deadline) {
    Sys.sleep(0.2)
  }
  expect_true(file.exists(file), info = paste(readLines(log), collapse = "\n"))
  session$interrupt()
}

test_that("Ctrl-C ends the calling R code and the interrupt carries what finished", {
  skip_on_cran()
  skip_on_os("windows")
  skip_if_not_installed("processx")
  skip_if_no_pykd()
  dir <- withr::local_tempdir("rkd-interrupt-")
  run <- fresh_r_script(c(
    sprintf("dir <- %s", deparse(dir)),
    marking_epochs,
    "ex <- rkd_example_data(tempfile())",
    "models <- rkd_example_models(seed = 1)",
    "student <- models$student",
    "run <- function(flag, ...) {",
    "  distill(models$teacher, student, ex$train, ex$directory, classes = ex$classes,",
    "          batch_size = 8, epochs = 10000, steps_per_epoch = 20, callbacks = flag, ...)",
    "}",
    # 1. A Ctrl-C from outside (landing in Python or in R), caught.
    "first <- mark('first')",
    "got <- tryCatch({ run(first, checkpoint_dir = file.path(dir, 'ckpt')); 'returned' },",
    "                interrupt = function(cnd) cnd)",
    "saveRDS(list(class = class(got), history = got$history, message = conditionMessage(got),",
    "             weights = weight_sum(student), finished = first$sums), file.path(dir, 'first.rds'))",
    # 2. A Ctrl-C that R takes itself, in a user's R callback, as a sweep's second setting starts.
    "runs <- 0",
    "ctrl_c <- rkd:::pykd()$FunctionCallback(on_train_begin = function(info) {",
    "  runs <<- runs + 1",
    "  if (runs == 2) { tools::pskill(Sys.getpid(), tools::SIGINT); for (i in seq_len(1e8)) NULL }",
    "  NULL",
    "})",
    "swept <- tryCatch(",
    "  rkd_sweep(models$teacher, models$student, ex$train, ex$directory, classes = ex$classes,",
    "            temperatures = c(2, 4), alphas = 0.5, batch_size = 8, epochs = 1,",
    "            steps_per_epoch = 2, callbacks = ctrl_c, verbose = FALSE),",
    "  interrupt = function(cnd) cnd)",
    "saveRDS(swept, file.path(dir, 'sweep.rds'))",
    # 3. A Ctrl-C in a loop of runs, not caught: the loop and the script end.
    "for (i in 1:2) {",
    "  cat(i, '\\n', file = file.path(dir, 'iterations'), append = TRUE)",
    "  run(mark('loop'), verbose = FALSE)",
    "}",
    "writeLines('after the loop', file.path(dir, 'after'))"
  ))
  log <- file.path(dir, "session.log")
  session <- processx::process$new(
    run$rscript, run$args, env = c("current", R_LIBS = run$libs),
    stdout = log, stderr = "2>&1", cleanup = TRUE
  )
  withr::defer(if (session$is_alive()) session$kill())
  ctrl_c_once(session, file.path(dir, "first"), log)
  ctrl_c_once(session, file.path(dir, "loop"), log)
  session$wait(timeout = 60000)
  output <- paste(readLines(log), collapse = "\n")
  expect_false(session$is_alive(), label = "the session ended within 60 s of the interrupt")
  expect_equal(session$get_exit_status(), 1L, info = output)

  # 1. tryCatch(interrupt = ) had the finished epochs; the student holds the last one's weights.
  first <- readRDS(file.path(dir, "first.rds"))
  expect_equal(first$class, c("rkd_interrupt", "interrupt", "condition"))
  epochs <- nrow(as.data.frame(first$history))
  expect_gte(epochs, 1)
  expect_equal(as.data.frame(first$history)$epoch, seq_len(epochs))
  expect_true(first$history$params$interrupted)
  # The weights as epoch `epochs` ended, as its callback saw them (unless the
  # Ctrl-C came after the epoch had ended and before its callbacks ran).
  if (length(first$finished) == epochs) {
    expect_identical(first$weights, first$finished[[epochs]])
  } else {
    expect_equal(length(first$finished), epochs - 1)
  }
  expect_match(first$message, sprintf("interrupted after epoch %d of 10000", epochs))
  expect_match(first$message, "resume = TRUE", fixed = TRUE)

  # 2. The sweep's finished setting, and the (no) finished epochs of the one it stopped.
  swept <- readRDS(file.path(dir, "sweep.rds"))
  expect_s3_class(swept, "rkd_interrupt")
  expect_s3_class(swept$sweep, "rkd_sweep")
  expect_equal(as.list(swept$sweep)[c("temperature", "alpha", "epochs")],
               list(temperature = 2, alpha = 0.5, epochs = 1))
  expect_equal(nrow(as.data.frame(swept$history)), 0)
  expect_true(swept$history$params$interrupted)
  expect_match(conditionMessage(swept), "interrupted after 1 of 2 settings")

  # 3. The loop never reached its second run, nor the script its end.
  expect_equal(trimws(readLines(file.path(dir, "iterations"))), "1")
  expect_false(file.exists(file.path(dir, "after")))
  expect_match(output, "Training was interrupted after epoch")
  expect_match(output, "Execution halted")
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

test_that("the interrupt says where the run stopped and how to keep what finished", {
  interrupt_of <- function(expr) tryCatch(expr, interrupt = function(cnd) cnd)
  history <- rkd:::new_rkd_history(
    list(epoch = list(1L, 2L), loss = list(1, 0.9)),
    list(mode = "distill", epochs = 12L, interrupted = TRUE)
  )
  cnd <- interrupt_of(rkd:::interrupt_run("distill", list(history), NULL, quote(distill())))
  expect_identical(cnd$history, history)
  # try() and error handlers do not take it: it is an interrupt, not an error.
  expect_s3_class(interrupt_of(try(rkd:::interrupt_run("distill", list(history), NULL, NULL),
                                   silent = TRUE)), "rkd_interrupt")
  expect_snapshot(cat(conditionMessage(cnd)))
  empty <- rkd:::new_rkd_history(list(epoch = list()), list(mode = "scratch", epochs = 3L))
  cnd <- interrupt_of(rkd:::interrupt_run("train_scratch", list(empty), NULL, NULL))
  expect_snapshot(cat(conditionMessage(cnd)))
  sweep <- data.frame(temperature = 2, alpha = 0.5, epochs = 2, best = TRUE)
  cnd <- interrupt_of(rkd:::interrupt_sweep(sweep, NULL, 4, TRUE, NULL))
  expect_identical(cnd$sweep, sweep)
  expect_snapshot(cat(conditionMessage(cnd)))
})
