# Faults seen from R: unreadable images, a NaN loss, and a resumed run.

test_that("unreadable images stop the run with their names, or are skipped", {
  skip_if_no_pykd()
  ex <- local_example_data()
  writeLines("not an image", file.path(ex$directory, "notes.jpg"))
  train <- rbind(ex$train, data.frame(image_id = "notes.jpg", label = 3L))
  models <- rkd_example_models(seed = 1)
  err <- expect_error(
    distill(models$teacher, models$student, train, ex$directory,
            classes = ex$classes, epochs = 1, steps_per_epoch = 1, verbose = FALSE),
    class = "rkd_data_error"
  )
  expect_match(conditionMessage(err), "1 image file is unreadable: notes.jpg")
  expect_match(conditionMessage(err), "on_bad_image ?= ?[\"']skip[\"']")
  expect_warning(
    history <- distill(models$teacher, models$student, train, ex$directory,
                       classes = ex$classes, epochs = 1, steps_per_epoch = 1,
                       verbose = FALSE, on_bad_image = "skip"),
    "Skipped 1 unreadable image file: notes.jpg", class = "rkd_warning"
  )
  expect_equal(history$params$n_train, nrow(ex$train))
})

test_that("a NaN loss stops at once, naming the epoch and step", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  keras <- reticulate::import("keras")
  # A linear model with an absurd learning rate overflows after its first step.
  linear <- keras$Sequential(list(
    keras$Input(shape = list(32L, 32L, 3L)), keras$layers$Rescaling(1 / 255),
    keras$layers$Flatten(), keras$layers$Dense(10L)
  ))
  err <- expect_error(
    train_scratch(linear, ex$train, ex$directory, classes = ex$classes,
                  epochs = 2, verbose = FALSE, optimizer = "sgd",
                  learning_rate = 1e36)
  )
  expect_match(conditionMessage(err), "epoch 1, step 2")
})

test_that("a resumed run ends as an uninterrupted one", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  # A fixed rate: the default schedule spans each call's epochs, so a longer call follows its own.
  keras <- reticulate::import("keras")
  run <- function(epochs, checkpoints = NULL, resume = FALSE) {
    student <- rkd_example_models(seed = 2)$student
    h <- train_scratch(student, ex$train, ex$directory, validation = ex$validation,
                       classes = ex$classes, batch_size = 16, epochs = epochs,
                       steps_per_epoch = 3, validation_steps = 2, seed = 5,
                       verbose = FALSE, checkpoint_dir = checkpoints, resume = resume,
                       augment = augmentation(rotation_range = 10),
                       optimizer = keras$optimizers$Adam(0.001))
    as.data.frame(h)
  }
  whole <- run(3)
  checkpoints <- withr::local_tempdir()
  first <- run(2, checkpoints)
  expect_equal(nrow(first), 2)
  resumed <- run(3, checkpoints, resume = TRUE)
  expect_equal(resumed, whole, tolerance = 1e-6)
})
