test_that("distill() checks its arguments in R before Python is needed", {
  ex <- local_example_data()
  m <- local_model_file()
  train <- ex$train
  dir <- ex$directory

  expect_snapshot(error = TRUE, distill(m, m, "not-there.csv", dir))
  expect_snapshot(error = TRUE, distill(m, m, list(a = 1), dir))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, y_col = "class"))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, x_col = "file"))
  expect_snapshot(error = TRUE,
    distill(m, m, train, dir, x_col = "file", y_col = c("CBB", "CMD"))
  )
  expect_snapshot(error = TRUE, distill(m, m, train, dir, alpha = 1.5))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, alpha = -0.1))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, temperature = 0))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, batch_size = 0))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, epochs = 2.5))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, steps_per_epoch = 0))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, validation_steps = -1))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, image_size = 224))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, image_size = c(224, 0)))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, rescale = "1/255"))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, seed = 1.5))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, verbose = NA))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, learning_rat = 0.1))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, 0.1))
  expect_snapshot(error = TRUE, distill(m, m, train, dir, augment = "flip"))
})

test_that("models must exist before anything else is checked", {
  ex <- local_example_data()
  m <- local_model_file()
  expect_snapshot(error = TRUE, distill("teacher.keras", m, ex$train, ex$directory))
  expect_snapshot(error = TRUE, distill(m, 42, ex$train, ex$directory))
  expect_snapshot(error = TRUE, train_scratch(list(1), ex$train, ex$directory))
})

test_that("missing images are counted and the first few named", {
  ex <- local_example_data()
  m <- local_model_file()
  train <- ex$train
  train$image_id[c(3, 10:17)] <- sprintf("missing_%02d.jpg", 1:9)
  expect_snapshot(
    error = TRUE, transform = scrub_paths,
    distill(m, m, train, ex$directory)
  )
  expect_snapshot(
    error = TRUE, transform = scrub_paths,
    distill(m, m, ex$train, file.path(ex$directory, "nope"))
  )
  err <- expect_error(distill(m, m, train, ex$directory), class = "rkd_input_error")
  expect_match(conditionMessage(err), sprintf("9 of %d image files", nrow(train)))
})

test_that("ids must be present and unique", {
  ex <- local_example_data()
  m <- local_model_file()
  dup <- rbind(ex$train, ex$train[c(5, 5, 9), ])
  expect_snapshot(error = TRUE, distill(m, m, dup, ex$directory))
  empty <- ex$train
  empty$image_id[c(2, 4)] <- NA
  expect_snapshot(error = TRUE, distill(m, m, empty, ex$directory))
})

test_that("labels must be among the classes", {
  ex <- local_example_data()
  m <- local_model_file()
  expect_snapshot(error = TRUE,
    distill(m, m, ex$train, ex$directory, classes = c("zero", "one", "two"))
  )
  named <- ex$train
  named$label <- ex$classes[named$label + 1]
  expect_snapshot(error = TRUE, distill(m, m, named, ex$directory))
  named$label[7] <- "eleven"
  expect_snapshot(error = TRUE,
    distill(m, m, named, ex$directory, classes = ex$classes)
  )
  negative <- ex$train
  negative$label[1] <- -1
  expect_snapshot(error = TRUE, distill(m, m, negative, ex$directory))
  expect_snapshot(error = TRUE,
    distill(m, m, ex$train, ex$directory, classes = c("a", "a", "b"))
  )
})

test_that("one-hot rows may hold at most one 1", {
  ex <- local_example_data()
  m <- local_model_file()
  val <- ex$validation
  val$zero[c(1, 4, 8)] <- 1
  val$one[c(1, 4, 8)] <- 1
  expect_snapshot(error = TRUE,
    distill(m, m, val, ex$directory, y_col = ex$classes)
  )
  val <- ex$validation
  val$two[3] <- 2
  expect_snapshot(error = TRUE,
    distill(m, m, val, ex$directory, y_col = ex$classes)
  )
  expect_snapshot(error = TRUE,
    distill(m, m, ex$validation, ex$directory, y_col = ex$classes,
            classes = c("a", "b"))
  )
})

test_that("the validation table is checked like the training table", {
  ex <- local_example_data()
  m <- local_model_file()
  val <- ex$validation
  val$image_id[2] <- "gone.jpg"
  expect_snapshot(
    error = TRUE, transform = scrub_paths,
    distill(m, m, ex$train, ex$directory, validation = val,
            classes = ex$classes)
  )
  # Without classes, a one-hot validation table has no label column to use.
  expect_snapshot(error = TRUE,
    distill(m, m, ex$train, ex$directory, validation = ex$validation)
  )
})

test_that("a valid call gets past the R checks and needs pykd next", {
  ex <- local_example_data()
  m <- local_model_file()
  # Either pykd is missing (a clear error) or it fails to load the empty
  # model file: both happen only after every R check passed.
  err <- expect_error(
    distill(m, m, ex$train, ex$directory, validation = ex$validation,
            classes = ex$classes, verbose = FALSE)
  )
  expect_false(inherits(err, "rkd_input_error"))
  expect_s3_class(err, "rkd_error")
})

test_that("CSV paths and tibbles are accepted", {
  ex <- local_example_data()
  df <- rkd:::check_labelled_table(ex$train_csv, "df", ex$directory,
                                   "image_id", "label", ex$classes)
  expect_equal(nrow(df), nrow(ex$train))
  expect_true(anyNA(df$label))
  skip_if_not_installed("tibble")
  tb <- tibble::as_tibble(ex$validation)
  df <- rkd:::check_labelled_table(tb, "validation", ex$directory,
                                   "image_id", ex$classes, NULL)
  expect_s3_class(df, "data.frame")
  expect_false(inherits(df, "tbl_df"))
})

test_that("the validation table may use the other label layout", {
  ex <- local_example_data()
  df <- rkd:::check_labelled_table(ex$validation, "validation", ex$directory,
                                   "image_id", "label", ex$classes,
                                   switch_layout = TRUE)
  expect_equal(attr(df, "y_col"), ex$classes)
  df <- rkd:::check_labelled_table(ex$train, "validation", ex$directory,
                                   "image_id", ex$classes, ex$classes,
                                   switch_layout = TRUE)
  expect_equal(attr(df, "y_col"), "label")
})
