test_that("a hint from R distills a teacher layer into a student layer", {
  skip_if_no_pykd()
  ex <- local_example_data()
  models <- rkd_example_models(n_classes = 10, seed = 4)
  history <- distill(models$teacher, models$student, head(ex$train, 48), ex$directory,
                     batch_size = 16, epochs = 2, seed = 2, verbose = FALSE,
                     hint = list(teacher_layer = "block2_conv2", student_layer = "conv2", weight = 0.5))
  df <- as.data.frame(history)
  expect_true("hint_loss" %in% names(df))
  expect_true(all(df$hint_loss > 0))
  expect_equal(history$params$hint$weight, 0.5)
  expect_snapshot(error = TRUE, distill(
    models$teacher, models$student, head(ex$train, 48), ex$directory, epochs = 1, verbose = FALSE,
    hint = list(teacher_layer = "block2_conv2", student_layer = "conv9")
  ))
})
