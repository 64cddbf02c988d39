# Issue 17 seen from R: labels mean what they say, checkpoints are never lost or mixed.

test_that("class names that are digits are matched by name; colliding numbers are refused", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  train <- ex$train[!is.na(ex$train$label), ][1:20, ]
  models <- test_models()
  names <- as.character(9:0)  # reversed: the name "9" is class id 0
  as_text <- transform(train, label = as.character(9 - label))
  history <- distill(models$teacher, models$student, as_text, ex$directory, classes = names,
                     epochs = 1, steps_per_epoch = 1, verbose = FALSE)
  expect_equal(unlist(history$params$classes), names)
  err <- expect_error(
    distill(models$teacher, models$student, train, ex$directory, classes = names,
            epochs = 1, steps_per_epoch = 1, verbose = FALSE),
    class = "rkd_data_error"
  )
  expect_match(conditionMessage(err), "also class names at other positions")
  expect_match(conditionMessage(err), "rows? [0-9]")
})

test_that("a checkpoint is never overwritten, and resume refuses changed settings", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  checkpoints <- withr::local_tempdir()
  run <- function(epochs, ...) {
    student <- rkd_example_models(seed = 2)$student
    train_scratch(student, ex$train, ex$directory, classes = ex$classes, batch_size = 16,
                  epochs = epochs, steps_per_epoch = 2, seed = 5, verbose = FALSE,
                  checkpoint_dir = checkpoints, ...)
  }
  run(1)
  file <- file.path(checkpoints, "pykd-checkpoint.npz")
  before <- tools::md5sum(file)
  err <- expect_error(run(1), class = "rkd_data_error")
  expect_match(conditionMessage(err), "already holds a checkpoint")
  expect_match(conditionMessage(err), "resume = TRUE")
  expect_equal(tools::md5sum(file), before)
  err <- expect_error(run(2, resume = TRUE, learning_rate = 0.03), class = "rkd_data_error")
  expect_match(conditionMessage(err), "optimizer learning_rate was 0.003, now 0.03", fixed = TRUE)
  expect_equal(tools::md5sum(file), before)
  continued <- run(2, resume = TRUE)
  expect_equal(as.data.frame(continued)$epoch, c(1, 2))
})
