# The rules R alone used to have now live in pykd, once. R gives its own
# values (vectors, data frames); pykd refuses them with its own message,
# written in R syntax; R shows that message as an rkd_data_error.

# `err`, R's refusal, is pykd's DataError with the same text as pykd's own
# refusal of the same input called in Python (`python`), with R values in it.
expect_pykd_refusal <- function(err, python) {
  expect_s3_class(err, "rkd_data_error")
  expect_equal(err$python_type, "DataError")
  expect_false(is.null(python))
  message <- flat_message(err)
  expect_equal(message, paste(c(python$problem, python$fix), collapse = " "))
  # The values in it are written as R, not as Python writes them.
  expect_false(message == paste(c(python$python$problem, python$python$fix), collapse = " "))
  expect_no_match(message, "\\bTrue\\b|\\bFalse\\b|\\[['\"]")
}

# The same input in Python: pykd.distill with plain Python values.
python_refusal <- function(train, directory, ...) {
  m <- test_models()
  pykd_refusal(rkd:::pykd()$distill, m$teacher, m$student, train,
               directory = directory, epochs = 1L, steps_per_epoch = 1L,
               verbose = 0L, ...)
}

test_that("rescale = 0 is refused by pykd", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  train <- ex$train
  dir <- ex$directory
  err <- catch_error(distill(t, s, train, dir, rescale = 0))
  expect_pykd_refusal(err, python_refusal(ex$train_csv, dir, rescale = 0L))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, rescale = 0))
})

test_that("duplicate class names are refused by pykd", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  train <- ex$train
  dir <- ex$directory
  classes <- c("zero", "one", "zero", "one", "two")
  err <- catch_error(distill(t, s, train, dir, classes = classes))
  expect_pykd_refusal(err, python_refusal(ex$train_csv, dir, classes = as.list(classes)))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, classes = classes))
})

test_that("shift and zoom ranges of 1 or more are refused by pykd", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  train <- ex$train
  dir <- ex$directory
  # When the augmentation is made ...
  err <- catch_error(augmentation(width_shift_range = 1.5))
  expect_pykd_refusal(err, pykd_refusal(rkd:::pykd()$Augmentation, width_shift_range = 1.5))
  expect_snapshot(error = TRUE, augmentation(width_shift_range = 1.5))
  # ... or, given as a plain list, when training starts.
  err <- catch_error(distill(t, s, train, dir, augment = list(zoom_range = 1)))
  expect_pykd_refusal(err, python_refusal(ex$train_csv, dir, augment = list(zoom_range = 1L)))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, augment = list(zoom_range = 1)))
})

test_that("one-hot columns listed in another order than classes are refused by pykd", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  val <- ex$validation
  dir <- ex$directory
  cols <- ex$classes
  err <- catch_error(distill(t, s, val, dir, y_col = cols, classes = rev(cols)))
  expect_pykd_refusal(err, python_refusal(ex$validation_csv, dir, y_col = as.list(cols),
                                          classes = as.list(rev(cols))))
  expect_snapshot(error = TRUE, distill(t, s, val, dir, y_col = cols, classes = rev(cols)))
})

test_that("a single class is refused by pykd", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  train <- ex$train
  dir <- ex$directory
  err <- catch_error(distill(t, s, train, dir, classes = "zero"))
  expect_pykd_refusal(err, python_refusal(ex$train_csv, dir, classes = list("zero")))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, classes = "zero"))
})
