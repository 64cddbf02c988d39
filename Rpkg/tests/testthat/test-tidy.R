# tidymodels-shaped output on objects built in R: no Python needed.

small_history <- function(teacher_name = "teacher", val = TRUE, loss = c(1.5, 1.1)) {
  metrics <- list(epoch = 1:2, loss = loss, student_loss = c(1.6, 1.2),
                  distillation_loss = c(0.9, 0.8), accuracy = c(0.4, 0.6))
  if (val) {
    metrics$val_loss <- c(1.4, 1.3)
    metrics$val_accuracy <- c(0.5, 0.45)
  }
  rkd:::new_rkd_history(metrics, list(
    mode = "distill", temperature = 3, alpha = 0.1, epochs = 2L, n_train = 48L,
    seconds = 2.5, teacher_name = teacher_name, student_name = "student",
    teacher_params = 3962L, student_params = 3962L
  ))
}

test_that("tidy() and glance() of a history are tibbles of its epochs and its summary", {
  h <- small_history()
  t <- tidy(h)
  expect_s3_class(t, "tbl_df")
  expect_named(t, c("epoch", "metric", "value"))
  expect_equal(unique(t$metric), c("loss", "student_loss", "distillation_loss", "accuracy",
                                   "val_loss", "val_accuracy"))
  expect_equal(t$value[t$metric == "val_accuracy"], c(0.5, 0.45))
  g <- glance(h)
  expect_equal(nrow(g), 1)
  expect_equal(g$epochs, 2)
  expect_equal(g$val_accuracy, 0.45)
  expect_equal(c(g$best_val_accuracy, g$best_epoch), c(0.5, 1))
  expect_false(g$interrupted)
  # Without validation the validation figures are NA, not missing columns.
  g <- glance(small_history(val = FALSE))
  expect_true(is.na(g$val_accuracy) && is.na(g$best_epoch))
  expect_snapshot(print(as.data.frame(glance(h))))
})

test_that("noised-student rounds print, flatten and tidy by round", {
  rounds <- rkd:::new_rkd_rounds(list(small_history(),
                                      small_history("round 1's student", loss = c(1.2, 0.9))))
  expect_snapshot(print(rounds))
  expect_s3_class(rounds[2], "rkd_rounds")
  df <- as.data.frame(rounds)
  expect_equal(df$round, c(1, 1, 2, 2))
  expect_equal(df$loss, c(1.5, 1.1, 1.2, 0.9))
  expect_equal(glance(rounds)$teacher, c("teacher", "round 1's student"))
  expect_equal(names(tidy(rounds))[1:2], c("round", "epoch"))
})

test_that("a sweep glances at its best setting, a tibble in giving a tibble out", {
  rows <- data.frame(temperature = c(2, 2, 4), alpha = c(0.1, 1, 0.1), epochs = 1,
                     val_loss = c(1.2, 1.1, 1.0), val_accuracy = c(0.5, 0.6, 0.6))
  sweep <- rkd:::new_rkd_sweep(rows, data.frame())
  expect_false(inherits(sweep, "tbl_df"))
  expect_equal(unclass(glance(sweep)), list(settings = 3L, temperature = 4, alpha = 0.1,
                                            val_accuracy = 0.6), ignore_attr = TRUE)
  expect_equal(tidy(sweep), tibble::as_tibble(rows))
  expect_s3_class(rkd:::new_rkd_sweep(rows, tibble::tibble()), c("rkd_sweep", "tbl_df"))
})

test_that("pykd's prediction frame becomes parsnip's columns", {
  named <- data.frame(image_id = c("a.png", "b.png"), label = c("cat", "dog"),
                      dog = c(0.2, 0.7), cat = c(0.8, 0.3))
  p <- rkd:::prediction_tibble(named, "image_id", type = "both")
  expect_named(p, c("image_id", ".pred_class", ".pred_dog", ".pred_cat"))
  expect_equal(levels(p$.pred_class), c("dog", "cat"))
  ids <- data.frame(image_id = "a.png", label = 1, prob_0 = 0.4, prob_1 = 0.6)
  p <- rkd:::prediction_tibble(ids, "image_id", type = "class")
  expect_equal(p$.pred_class, factor("1", levels = c("0", "1")))
  expect_snapshot(print(rkd:::prediction_tibble(named, "image_id", type = "prob")))
})

test_that("a confusion matrix prints with its accuracy and flattens to one row per cell", {
  cm <- rkd:::new_rkd_confusion(list(classes = list("cat", "dog"), n_classes = 2L,
                                     counts = list(list(3L, 1L), list(0L, 4L))))
  expect_snapshot(print(cm))
  expect_equal(as.data.frame(cm)$Freq, c(3L, 0L, 1L, 4L))
  expect_equal(levels(as.data.frame(cm)$Prediction), c("cat", "dog"))
  metrics <- rkd:::metrics_tibble(list(loss = 0.5, accuracy = 0.875, n = 8),
                                  list(classes = list("cat", "dog"), n_classes = 2L,
                                       counts = list(list(3L, 1L), list(0L, 4L))))
  expect_snapshot(print(metrics))
})
