test_that("a hint from R distills a teacher layer into a student layer", {
  skip_if_no_pykd()
  ex <- shared_example_data()
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

test_that("a hint from R names a layer inside a nested model by its path", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  models <- rkd_example_models(n_classes = 10, seed = 4)
  # A student whose convolution sits inside a nested functional model, "backbone".
  main <- reticulate::py_run_string(paste(
    "def rkd_nested_student():",
    "    import keras",
    "    keras.utils.set_random_seed(4)",
    "    x = keras.Input((32, 32, 3))",
    "    conv = keras.layers.Conv2D(8, 3, padding='same', activation='relu', name='conv')",
    "    backbone = keras.Model(x, conv(keras.layers.Rescaling(1 / 255)(x)), name='backbone')",
    "    x = keras.Input((32, 32, 3))",
    "    pooled = keras.layers.GlobalAveragePooling2D()(backbone(x))",
    "    return keras.Model(x, keras.layers.Dense(10)(pooled))",
    sep = "\n"
  ), convert = FALSE)
  student <- main$rkd_nested_student()
  history <- distill(models$teacher, student, head(ex$train, 32), ex$directory,
                     batch_size = 16, epochs = 2, seed = 2, verbose = FALSE,
                     hint = list(teacher_layer = "block2_conv2", student_layer = "backbone/conv"))
  # The path reaches pykd as it was written; that the hint trains the nested layers is tests/test_recipes.py's.
  expect_equal(history$params$hint$student_layer, "backbone/conv")
  df <- as.data.frame(history)
  expect_true(all(is.finite(df$hint_loss) & df$hint_loss > 0))
  expect_error(
    distill(models$teacher, student, head(ex$train, 32), ex$directory, epochs = 1, verbose = FALSE,
            hint = list(teacher_layer = "block2_conv2", student_layer = "backbone/cnv")),
    'no layer "backbone/cnv"; the closest names are "backbone/conv"', fixed = TRUE
  )
})

test_that("rkd_noisy_student() runs its rounds, each taught by the last round's student", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  train <- head(ex$train, 48)
  build <- function() rkd_example_models(n_classes = 10, seed = 6)
  models <- build()
  rounds <- rkd_noisy_student(models$teacher, models$student, train, ex$directory,
                              rounds = 2, batch_size = 16, epochs = 2, seed = 3,
                              verbose = FALSE)
  expect_length(rounds, 2)
  expect_s3_class(rounds, "rkd_rounds")
  # Each round names its true teacher: round 2's is round 1's student.
  expect_equal(rounds[[1]]$params$teacher_name, "teacher")
  expect_equal(rounds[[2]]$params$teacher_name, "round 1's student")
  expect_output(print(rounds[[2]]), "Teacher:  round 1's student (3,962 parameters)", fixed = TRUE)
  expect_output(print(rounds), "Round 2: taught by round 1's student; 2 epochs, loss", fixed = TRUE)
  df <- as.data.frame(rounds)
  expect_equal(df$round, c(1, 1, 2, 2))
  expect_equal(df$loss, c(rounds[[1]]$metrics$loss, rounds[[2]]$metrics$loss))
  expect_equal(glance(rounds)$teacher, c("teacher", "round 1's student"))
  expect_equal(glance(rounds)$epochs, c(2, 2))
  expect_equal(unique(tidy(rounds)$round), 1:2)
  for (history in rounds) {
    expect_s3_class(history, "rkd_history")
    expect_equal(history$params$teacher_view, "clean")
    expect_true(history$params$teacher_cache)
    expect_true(history$params$augmented)
  }
  # The first round is distill() with the clean view and pykd's default noise.
  again <- build()
  first <- distill(again$teacher, again$student, train, ex$directory,
                   batch_size = 16, epochs = 2, seed = 3, verbose = FALSE,
                   augment = augmentation(rotation_range = 10, width_shift_range = 0.1,
                                          height_shift_range = 0.1, zoom_range = 0.1,
                                          horizontal_flip = TRUE),
                   teacher_view = "clean")
  expect_equal(as.data.frame(rounds[[1]]), as.data.frame(first))
  expect_snapshot(error = TRUE, rkd_noisy_student(
    models$teacher, models$student, train, ex$directory, epochs = 1, verbose = FALSE,
    augment = augmentation()
  ))
})
