# Real training runs through pykd: tiny models, 32x32 images, few steps.

test_that("distill() trains on the example data and returns a history", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  models <- rkd_example_models(n_classes = 10, seed = 1)
  history <- distill(
    models$teacher, models$student, ex$train, ex$directory,
    validation = ex$validation, classes = ex$classes,
    batch_size = 16, epochs = 2, steps_per_epoch = 3, validation_steps = 2,
    temperature = 4, alpha = 0.3, seed = 1, verbose = FALSE
  )
  expect_s3_class(history, "rkd_history")
  df <- as.data.frame(history)
  expect_named(df, c("epoch", "loss", "student_loss", "distillation_loss",
                     "accuracy", "val_loss", "val_accuracy", "learning_rate"))
  # the default schedule over 6 steps (too few to warm up): a cosine from 3e-3, half-way at step 3, 0 at the end
  expect_equal(df$learning_rate, c(0.0015, 0), tolerance = 1e-6)
  expect_equal(df$epoch, 1:2)
  expect_true(all(is.finite(df$loss)))
  expect_true(all(df$distillation_loss >= 0))
  expect_true(all(df$accuracy >= 0 & df$accuracy <= 1))
  expect_true(all(df$val_accuracy >= 0 & df$val_accuracy <= 1))
  p <- history$params
  expect_equal(p$mode, "distill")
  expect_equal(p$temperature, 4)
  expect_equal(p$alpha, 0.3)
  expect_equal(p$batch_size, 16)
  expect_equal(p$steps_per_epoch, 3)
  expect_equal(p$n_train, nrow(ex$train))
  expect_equal(p$n_validation, nrow(ex$validation))
  expect_equal(unlist(p$classes), ex$classes)
  expect_equal(p$student_name, "student")
  # plain R data only: survives saveRDS() and prints without Python
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(history, path)
  expect_equal(as.data.frame(readRDS(path)), df)
  expect_output(print(history), "knowledge distillation: 2 epochs of 3 steps")
  expect_output(print(history), "Epoch 2:")
})

test_that("verbose = TRUE reports each epoch in R, verbose = FALSE is silent", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  models <- rkd_example_models(n_classes = 10, seed = 2)
  msgs <- capture_messages(
    distill(models$teacher, models$student, ex$train, ex$directory,
            classes = ex$classes, batch_size = 8, epochs = 2,
            steps_per_epoch = 2, seed = 2, verbose = TRUE)
  )
  text <- paste(msgs, collapse = "")
  expect_match(text, sprintf("Distilling on %d images", nrow(ex$train)))
  expect_match(text, "Epoch 1/2: loss [0-9.]+")
  expect_match(text, "Epoch 2/2: loss")
  expect_silent(
    distill(models$teacher, models$student, ex$train, ex$directory,
            classes = ex$classes, batch_size = 8, epochs = 1,
            steps_per_epoch = 2, seed = 2, verbose = FALSE)
  )
})

test_that("the seed tutorial's scenario runs at small scale", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  cassava <- c("CBB", "CBSD", "CGM", "CMD", "Healthy")
  # Five classes, one-hot columns like the tutorial's table.
  rows <- ex$validation[ex$validation$zero + ex$validation$one +
                          ex$validation$two + ex$validation$three +
                          ex$validation$four == 1, ]
  label <- max.col(as.matrix(rows[c("zero", "one", "two", "three", "four")])) - 1
  table <- one_hot_labels(data.frame(image_id = rows$image_id, label = label),
                          classes = cassava, drop = TRUE)
  train <- table[1:20, ]         # 20 rows, batch 8: 2 full batches and one of 4
  validation <- table[21:41, ]   # 21 rows: 2 full batches and one of 5
  expect_equal(nrow(validation) %% 8, 5)
  models <- rkd_example_models(n_classes = 5, seed = 3)
  history <- distill(
    models$teacher, models$student, train, ex$directory,
    validation = validation, y_col = cassava,
    batch_size = 8, epochs = 7, steps_per_epoch = 4, validation_steps = 2,
    temperature = 3, alpha = 0.9,
    augment = augmentation(rotation_range = 40, width_shift_range = 0.2,
                           height_shift_range = 0.2, shear_range = 0.2,
                           zoom_range = 0.5, horizontal_flip = TRUE),
    seed = 3, verbose = FALSE
  )
  df <- as.data.frame(history)
  # 7 epochs x 4 steps x 8 = 224 rows seen from a 20-row table: many passes.
  expect_equal(nrow(df), 7)
  expect_true(all(is.finite(as.matrix(df))))
  expect_equal(unlist(history$params$classes), cassava)
  expect_equal(history$params$validation_steps, 2)
  png_file <- withr::local_tempfile(fileext = ".png")
  grDevices::png(png_file)
  grDevices::dev.control("enable")
  expect_s3_class(plot(history, method = "base"), "recordedplot")
  grDevices::dev.off()
  expect_gt(file.size(png_file), 1000)
})

test_that("train_scratch() is the baseline without a teacher", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  student <- rkd_example_models(seed = 4)$student
  history <- train_scratch(student, ex$train, ex$directory,
                           validation = ex$validation, classes = ex$classes,
                           batch_size = 16, epochs = 1, steps_per_epoch = 2,
                           seed = 4, verbose = FALSE)
  expect_equal(history$params$mode, "scratch")
  expect_equal(history$params$n_train, sum(!is.na(ex$train$label)))
  expect_output(print(history), "training from scratch")
})

test_that("rkd_evaluate() gives a tibble of metrics agreeing with rkd_confusion()", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  student <- rkd_example_models(seed = 5)$student
  res <- rkd_evaluate(student, ex$validation, ex$directory, y_col = ex$classes)
  expect_s3_class(res, "tbl_df")
  expect_named(res, c(".metric", ".class", ".estimate", "n"))
  expect_equal(res$.metric, c("accuracy", "loss", rep(c("recall", "precision"), each = 10)))
  expect_equal(res$.class, c(NA, NA, ex$classes, ex$classes))
  metric <- function(name) res$.estimate[res$.metric == name]
  expect_equal(res$n[1:2], rep(nrow(ex$validation), 2))
  expect_true(metric("accuracy") >= 0 && metric("accuracy") <= 1)
  expect_true(is.finite(metric("loss")))
  # The confusion matrix counts the same images: truth in rows, the
  # predicted class in columns; recall and precision are its ratios.
  cm <- rkd_confusion(student, ex$validation, ex$directory, y_col = ex$classes)
  expect_s3_class(cm, "rkd_confusion")
  expect_equal(dimnames(cm), list(Truth = ex$classes, Prediction = ex$classes))
  expect_equal(sum(cm), nrow(ex$validation))
  expect_equal(unname(rowSums(cm)), colSums(ex$validation[ex$classes]), ignore_attr = TRUE)
  expect_equal(sum(diag(unclass(cm))) / sum(cm), metric("accuracy"), tolerance = 1e-6)
  expect_equal(metric("recall"), unname(diag(unclass(cm)) / rowSums(cm)))
  expect_equal(res$n[res$.metric == "precision"], unname(colSums(cm)))
  expect_output(print(cm), "<rkd_confusion> 359 labelled images, 10 classes")
  expect_s3_class(ggplot2::autoplot(cm), "ggplot")
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off(), add = TRUE)
  expect_no_error(plot(cm))
})

test_that("errors raised by pykd come back as cli errors with pykd's message", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  models <- rkd_example_models(n_classes = 5, seed = 6)
  # Ten classes in the data, five outputs in the models: only Python knows.
  err <- expect_error(
    distill(models$teacher, models$student, ex$train, ex$directory,
            classes = ex$classes, epochs = 1, steps_per_epoch = 1,
            verbose = FALSE),
    class = "rkd_data_error"
  )
  msg <- conditionMessage(err)
  expect_match(msg, "5 classes")
  expect_no_match(msg, "Traceback|DataError|py_last_error")
  expect_equal(err$python_type, "DataError")
  expect_equal(deparse(conditionCall(err)[[1]]), "distill")
})

test_that("a model file is loaded from its path", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  models <- rkd_example_models(seed = 7)
  path <- withr::local_tempfile(fileext = ".keras")
  rkd_save_model(models$teacher, path)
  history <- distill(path, models$student, ex$train, ex$directory,
                     classes = ex$classes, batch_size = 8, epochs = 1,
                     steps_per_epoch = 1, verbose = FALSE)
  expect_equal(history$params$teacher_name, basename(path))
})

test_that("the teacher may be an ensemble or a table of logits", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  a <- rkd_example_models(seed = 9)
  b <- rkd_example_models(seed = 10)
  history <- distill(list(a$teacher, b$teacher), a$student, ex$train,
                     ex$directory, classes = ex$classes, batch_size = 8,
                     epochs = 1, steps_per_epoch = 2, verbose = FALSE)
  expect_equal(history$params$teacher_name, "ensemble of 2")

  set.seed(1)
  logits <- data.frame(image_id = ex$train$image_id,
                       matrix(rnorm(10 * nrow(ex$train)), ncol = 10, dimnames = list(NULL, ex$classes)))
  history <- distill(logits, a$student, ex$train, ex$directory,
                     classes = ex$classes, batch_size = 8, epochs = 2,
                     steps_per_epoch = 2, verbose = FALSE)
  expect_equal(history$params$teacher_name, "precomputed logits")
  expect_true(all(as.data.frame(history)$distillation_loss > 0))
})

test_that("teacher_logits() gives a table that trains like the live teacher", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  models <- rkd_example_models(seed = 11)
  path <- withr::local_tempfile(fileext = ".csv")
  logits <- teacher_logits(models$teacher, ex$train, ex$directory,
                           classes = ex$classes, path = path)
  expect_s3_class(logits, "data.frame")
  expect_equal(nrow(logits), nrow(ex$train))
  expect_equal(names(logits), c("image_id", ex$classes))
  expect_equal(logits$image_id, ex$train$image_id)
  expect_true(file.exists(path))
  run <- function(teacher) {
    student <- rkd_example_models(seed = 12)$student
    as.data.frame(distill(teacher, student, ex$train, ex$directory,
                          classes = ex$classes, batch_size = 16, epochs = 2,
                          steps_per_epoch = 3, seed = 3, verbose = FALSE))
  }
  expect_equal(run(logits), run(models$teacher), tolerance = 1e-5)
})

test_that("out_of_fold_logits() gives every training image one row", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  built <- 0
  build <- function() {
    built <<- built + 1
    rkd_example_models(seed = built)$teacher
  }
  oof <- out_of_fold_logits(build, ex$train, ex$directory, folds = 2,
                            classes = ex$classes, epochs = 1,
                            steps_per_epoch = 2, verbose = FALSE)
  expect_equal(built, 2)
  expect_equal(oof$image_id, ex$train$image_id)
  expect_true(all(is.finite(as.matrix(oof[ex$classes]))))
  expect_snapshot(error = TRUE, out_of_fold_logits(1, ex$train, ex$directory))
})

test_that("options in ... reach pykd", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  models <- rkd_example_models(seed = 12)
  history <- distill(models$teacher, models$student, ex$train, ex$directory,
                     classes = ex$classes, batch_size = 8, epochs = 1,
                     steps_per_epoch = 2, verbose = FALSE,
                     optimizer = "sgd", learning_rate = 0.01,
                     last_batch = "drop", cache_teacher = FALSE)
  expect_equal(history$params$last_batch, "drop")
  expect_false(history$params$teacher_cache)
})

test_that("rkd_sweep(keep_best = TRUE) leaves the student with the best setting's weights", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  models <- rkd_example_models(seed = 13)
  res <- rkd_sweep(models$teacher, models$student, ex$train, ex$directory,
                   validation = ex$validation, classes = ex$classes,
                   temperatures = c(2, 4), alphas = c(0.1, 1), batch_size = 16,
                   epochs = 1, steps_per_epoch = 3, rescale = 1 / 255,
                   verbose = FALSE, keep_best = TRUE)
  # One row per setting, in the grid's order.
  expect_s3_class(res, "rkd_sweep")
  expect_s3_class(res, "data.frame")
  expect_equal(res$temperature, c(2, 2, 4, 4))
  expect_equal(res$alpha, c(0.1, 1, 0.1, 1))
  expect_true(all(c("loss", "accuracy", "val_accuracy") %in% names(res)))
  expect_type(res$loss, "double")
  expect_equal(sum(res$best), 1)
  expect_equal(res$val_accuracy[res$best], max(res$val_accuracy))
  scores <- rkd_evaluate(models$student, ex$validation, ex$directory,
                         classes = ex$classes, rescale = 1 / 255)
  expect_equal(scores$.estimate[scores$.metric == "accuracy"], res$val_accuracy[res$best])
  # glance() names the setting keep_best chose; tidy() is the rows.
  best <- glance(res)
  expect_equal(best$settings, 4)
  expect_equal(c(best$temperature, best$alpha), c(res$temperature[res$best], res$alpha[res$best]))
  expect_equal(nrow(tidy(res)), 4)
  expect_s3_class(tidy(res), "tbl_df")
  expect_snapshot(error = TRUE,
    rkd_sweep(models$teacher, models$student, ex$train, ex$directory,
              classes = ex$classes, verbose = FALSE, keep_best = TRUE)
  )
})

test_that("rkd_sweep() settings are refused by pykd", {
  ex <- shared_example_data()
  t <- test_models()$teacher
  s <- test_models()$student
  train <- ex$train
  dir <- ex$directory
  expect_snapshot(error = TRUE,
    rkd_sweep(t, s, train, dir, temperatures = c(2, -1), epochs = 1,
              steps_per_epoch = 1, verbose = FALSE)
  )
  expect_snapshot(error = TRUE,
    rkd_sweep(t, s, train, dir, alphas = "0.5", verbose = FALSE)
  )
})

test_that("user callbacks and a tf.distribute strategy pass through", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  models <- rkd_example_models(seed = 14)
  seen <- integer()
  callback <- rkd:::pykd()$FunctionCallback(
    on_epoch_end = function(epoch, logs) {
      seen <<- c(seen, as.integer(epoch))
      NULL
    }
  )
  args <- list(models$teacher, models$student, ex$train, ex$directory,
               classes = ex$classes, batch_size = 8, epochs = 2,
               steps_per_epoch = 2, callbacks = list(callback))
  tf <- reticulate::import("tensorflow")
  args$strategy <- tf$distribute$OneDeviceStrategy("/cpu:0")
  # verbose = TRUE: rkd's own progress callback runs alongside the user's
  msgs <- capture_messages(history <- do.call(distill, args))
  expect_equal(seen, 1:2)
  expect_match(paste(msgs, collapse = ""), "Epoch 2/2: loss")
  expect_equal(nrow(as.data.frame(history)), 2)
})

test_that("class_weight takes a named vector or list, by class name or id, as Keras does", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  labeled <- head(ex$train[!is.na(ex$train$label), ], 16)
  run <- function(class_weight) {
    student <- rkd_example_models(seed = 1)$student
    h <- train_scratch(student, labeled, ex$directory, classes = ex$classes,
                       rescale = 1 / 255, batch_size = 16, epochs = 1,
                       seed = 1, verbose = FALSE, class_weight = class_weight)
    as.data.frame(h)$loss
  }
  by_name <- run(stats::setNames(c(3, 0.5), ex$classes[1:2]))
  expect_equal(run(list("0" = 3, "1" = 0.5)), by_name, tolerance = 1e-6)
  expect_false(isTRUE(all.equal(run(NULL), by_name)))
})
