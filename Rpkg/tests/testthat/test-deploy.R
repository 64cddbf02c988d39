# The two ends of the user's job from R: building the models, and predicting,
# exporting and comparing the trained student.

# A folder of the first `n` example images and nothing else, as a Kaggle
# test folder is.
bare_folder <- function(ex, n = 24) {
  dir <- withr::local_tempdir("rkd-test-images-", .local_envir = parent.frame())
  files <- utils::head(sort(list.files(ex$directory)), n)
  file.copy(file.path(ex$directory, files), dir)
  dir
}

test_that("rkd_classifier() builds the tutorial's models with its trainable counts", {
  skip_on_cran()
  skip_if_no_pykd()
  # c(32, 32, 3) as R doubles: rkd makes them the integers Keras wants.
  model <- rkd_classifier("efficientnet_b0", n_classes = 5, input_shape = c(32, 32, 3))
  expect_equal(rkd_describe(model)$trainable_params, 8965)
  expect_equal(rkd_describe(model)$input_shape, c(32L, 32L, 3L))
  rkd_unfreeze(model, from = "block5a_expand_conv")
  expect_equal(rkd_describe(model)$trainable_params, 3707853)
  expect_snapshot(error = TRUE, rkd_classifier("efficientnet_b9", 5, c(32, 32)))
  expect_snapshot(error = TRUE, rkd_classifier("resnet50", 1, c(32, 32)))
})

test_that("weights saved and loaded into a rebuilt model give identical outputs", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  images <- head(ex$validation, 16)
  student <- rkd_example_models(seed = 1)$student
  path <- withr::local_tempfile(fileext = ".weights.h5")
  expect_equal(rkd_save_weights(student, path), normalizePath(path))
  rebuilt <- rkd_example_models(seed = 2)$student
  before <- rkd_predict(rebuilt, images, ex$directory, rescale = 1 / 255)
  expect_identical(rkd_load_weights(rebuilt, path), rebuilt)
  expected <- rkd_predict(student, images, ex$directory, rescale = 1 / 255)
  after <- rkd_predict(rebuilt, images, ex$directory, rescale = 1 / 255)
  expect_false(isTRUE(all.equal(before, expected)))
  expect_identical(after, expected)
  # A weights-only file is not a model, and the error says what to do.
  expect_snapshot(error = TRUE, transform = function(x) gsub('"[^"]*[.]weights[.]h5"', "<path>", x),
                  rkd_load_model(path))
})

test_that("a 64x64 teacher is distilled into a 32x32 student from the same files", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  teacher <- rkd_example_models(input_shape = c(64, 64, 3), seed = 1)$teacher
  student <- rkd_example_models(input_shape = c(32, 32, 3), seed = 1)$student
  history <- distill(teacher, student, ex$train, ex$directory,
                     classes = ex$classes, rescale = 1 / 255, batch_size = 16,
                     epochs = 1, steps_per_epoch = 3, seed = 1, verbose = FALSE)
  expect_equal(history$params$image_size, c(32L, 32L))
  expect_true(all(is.finite(as.data.frame(history)$loss)))
})

test_that("rkd_predict() on a bare folder gives one row per image with class names", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  dir <- bare_folder(ex)
  student <- rkd_example_models(seed = 1)$student
  p <- rkd_predict(student, directory = dir, classes = ex$classes, rescale = 1 / 255)
  # parsnip's shape: a tibble of image_id, .pred_class (a factor of the
  # classes in output order) and .pred_<class> probabilities.
  expect_s3_class(p, "tbl_df")
  expect_equal(nrow(p), 24)
  expect_equal(p$image_id, sort(list.files(dir)))
  prob_cols <- paste0(".pred_", ex$classes)
  expect_named(p, c("image_id", ".pred_class", prob_cols))
  expect_equal(levels(p$.pred_class), ex$classes)
  probs <- as.matrix(p[prob_cols])
  expect_equal(unname(rowSums(probs)), rep(1, 24), tolerance = 1e-5)
  expect_equal(as.character(p$.pred_class), ex$classes[max.col(probs, ties.method = "first")])
  # type = "class" and "prob" keep their columns, in the same rows.
  just_class <- rkd_predict(student, directory = dir, classes = ex$classes,
                            rescale = 1 / 255, type = "class")
  expect_identical(just_class, p[c("image_id", ".pred_class")])
  # Without classes the levels are the class ids, counted from 0, and
  # predict() on the model rkd made is rkd_predict().
  ids <- predict(student, directory = dir, rescale = 1 / 255, type = "prob")
  expect_named(ids, c("image_id", paste0(".pred_", 0:9)))
  expect_equal(unname(as.matrix(ids[-1])), unname(probs))
  expect_snapshot(error = TRUE, rkd_predict(student, directory = dir, type = "probs"))
  # A folder without images: the fix names R's argument.
  expect_snapshot(error = TRUE, transform = scrub_paths,
                  rkd_predict(student, directory = withr::local_tempdir("rkd-ex-empty-")))
  expect_snapshot(error = TRUE, predict(student, 1:3))
  # A submission is one write.csv(); class ids are as.integer(.pred_class) - 1.
  csv <- withr::local_tempfile(fileext = ".csv")
  utils::write.csv(data.frame(image_id = p$image_id, label = p$.pred_class), csv,
                   row.names = FALSE)
  expect_equal(utils::read.csv(csv)$label, as.character(p$.pred_class))
  expect_equal(as.integer(p$.pred_class) - 1L, max.col(probs, ties.method = "first") - 1L)
  # Test-time augmentation averages views: still probabilities, same rows.
  tta <- rkd_predict(student, directory = dir, classes = ex$classes,
                     rescale = 1 / 255, tta = 4, type = "prob")
  expect_equal(tta$image_id, p$image_id)
  expect_equal(unname(rowSums(as.matrix(tta[prob_cols]))), rep(1, 24), tolerance = 1e-5)
})

test_that("an exported student predicts as the Keras model and rkd_compare() weighs them", {
  skip_on_cran()
  skip_if_no_pykd()
  ex <- shared_example_data()
  models <- rkd_example_models(seed = 1)
  lite <- rkd_export(models$student, withr::local_tempfile(fileext = ".tflite"))
  expect_true(file.exists(lite))
  keras_p <- rkd_predict(models$student, ex$validation, ex$directory,
                         classes = ex$classes, rescale = 1 / 255)
  lite_p <- rkd_predict(lite, ex$validation, ex$directory,
                        classes = ex$classes, rescale = 1 / 255)
  expect_gte(mean(keras_p$.pred_class == lite_p$.pred_class), 0.995)
  prob_cols <- paste0(".pred_", ex$classes)
  expect_equal(as.matrix(lite_p[prob_cols]), as.matrix(keras_p[prob_cols]),
               tolerance = 1e-4)
  # rkd_evaluate() takes the file as rkd_predict() and rkd_compare() do.
  expect_equal(rkd_evaluate(lite, ex$validation, ex$directory, y_col = ex$classes, rescale = 1 / 255),
               rkd_evaluate(models$student, ex$validation, ex$directory, y_col = ex$classes,
                            rescale = 1 / 255),
               tolerance = 1e-3)
  table <- rkd_compare(list(teacher = models$teacher, student = lite),
                       ex$validation, ex$directory, y_col = ex$classes,
                       rescale = 1 / 255)
  expect_named(table, c("model", "params", "size_mb", "ms_per_image",
                        "ms_per_image_batch1", "accuracy"))
  expect_equal(table$model, c("teacher", "student"))
  # A .tflite file counts the constants it holds, after the converter folded
  # some of them together: a few fewer than the Keras model has.
  expect_equal(table$params[1], rkd_describe(models$teacher)$params)
  expect_equal(table$params[2], rkd_describe(models$student)$params, tolerance = 0.01)
  expect_true(all(table$size_mb > 0 & table$ms_per_image > 0 &
                    table$ms_per_image_batch1 > 0))
  expect_true(all(table$accuracy >= 0 & table$accuracy <= 1))
  expect_snapshot(error = TRUE, rkd_compare(list(models$teacher), ex$validation, ex$directory))
  expect_snapshot(error = TRUE, rkd_compare(list(a = lite, a = lite), ex$validation, ex$directory))
})

test_that("an int8 export is calibrated on a table, predicts as the Keras model and is compared", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  student <- rkd_example_models(seed = 1)$student
  float <- rkd_export(student, withr::local_tempfile(fileext = ".tflite"))
  path <- withr::local_tempfile(fileext = ".tflite")
  int8 <- rkd_export(student, path, quantize = "int8", representative = ex$train,
                     directory = ex$directory, rescale = 1 / 255)
  expect_lt(file.size(int8), 0.65 * file.size(float))
  keras_p <- rkd_predict(student, ex$validation, ex$directory,
                         classes = ex$classes, rescale = 1 / 255)
  int8_p <- rkd_predict(int8, ex$validation, ex$directory,
                        classes = ex$classes, rescale = 1 / 255)
  expect_gte(mean(keras_p$.pred_class == int8_p$.pred_class), 0.9)
  table <- rkd_compare(list(keras = student, int8 = int8), ex$validation,
                       ex$directory, y_col = ex$classes, rescale = 1 / 255)
  expect_equal(table$params[2], table$params[1], tolerance = 0.01)  # folded, as a float file
  expect_equal(table$size_mb[2], file.size(int8) / 2^20)
  expect_lte(abs(table$accuracy[2] - table$accuracy[1]), 0.05)
  # int8 needs representative images, and only int8 takes them.
  expect_snapshot(error = TRUE, rkd_export(student, path, quantize = "int8"))
  expect_snapshot(error = TRUE, rkd_export(student, path, quantize = "dynamic",
                                           representative = ex$train,
                                           directory = ex$directory))
})

test_that("a factor label column gives the classes by its levels", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  labeled <- ex$train[!is.na(ex$train$label), ]
  levels <- rev(ex$classes)
  labeled$label <- factor(ex$classes[labeled$label + 1], levels = levels)
  student <- rkd_example_models(seed = 1)$student
  history <- train_scratch(student, labeled, ex$directory, rescale = 1 / 255,
                           batch_size = 16, epochs = 1, steps_per_epoch = 2,
                           verbose = FALSE)
  expect_equal(history$params$classes, levels)
  scores <- rkd_evaluate(student, labeled, ex$directory, rescale = 1 / 255)
  expect_equal(scores$n[scores$.metric == "accuracy"], nrow(labeled))
  # The student knows its classes: predictions are named by them, a saved
  # model keeps them, and levels in another order are refused, naming both.
  expect_equal(rkd_classes(student), levels)
  p <- rkd_predict(student, head(labeled, 8), ex$directory, rescale = 1 / 255)
  expect_named(p, c("image_id", ".pred_class", paste0(".pred_", levels)))
  expect_equal(levels(p$.pred_class), levels)
  path <- rkd_save_model(student, withr::local_tempfile(fileext = ".keras"))
  expect_equal(rkd_classes(rkd_load_model(path)), levels)
  relevelled <- labeled
  relevelled$label <- factor(as.character(labeled$label), levels = ex$classes)
  err <- catch_error(rkd_evaluate(student, relevelled, ex$directory, rescale = 1 / 255))
  expect_match(flat_message(err), paste0(
    "classes (or the levels of a factor label column) is c(", paste0('"', ex$classes, '"', collapse = ", "),
    "), but the model was trained with the ",
    "classes c(", paste0('"', levels, '"', collapse = ", "), ") (the same names in another order)"
  ), fixed = TRUE)
})

test_that("a swapped teacher is refused in R, and validation rows that are training rows warn", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  models <- rkd_example_models(seed = 1)
  train <- ex$train[!is.na(ex$train$label), ][1:40, ]
  before <- weight_sum(models$teacher)
  expect_error(
    distill(models$student, models$teacher, train, ex$directory,
            classes = ex$classes, rescale = 1 / 255, batch_size = 8,
            epochs = 1, steps_per_epoch = 1, verbose = FALSE),
    "wrong order.*larger_student = TRUE", class = "rkd_data_error"
  )
  expect_identical(weight_sum(models$teacher), before)
  expect_warning(
    distill(models$teacher, models$student, train, ex$directory,
            validation = train[1:8, ], classes = ex$classes,
            rescale = 1 / 255, batch_size = 8, epochs = 1,
            steps_per_epoch = 1, verbose = FALSE),
    "also training images", class = "rkd_warning"
  )
})

test_that("teacher_logits() takes the options of its Python function", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  teacher <- rkd_example_models(seed = 1)$teacher
  rows <- head(ex$validation["image_id"], 8)
  logits <- teacher_logits(teacher, rows, ex$directory, classes = ex$classes,
                           rescale = 1 / 255, teacher_precision = "float32")
  expect_named(logits, c("image_id", ex$classes))
  expect_snapshot(error = TRUE,
                  teacher_logits(teacher, rows, ex$directory, precision = "float32"))
})

test_that("a folder of class subfolders trains without a directory, and a student file is saved back", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  labeled <- head(ex$train[!is.na(ex$train$label), ], 60)
  root <- file.path(withr::local_tempdir("rkd-folders-"), "train")
  for (i in seq_len(nrow(labeled))) {
    class_dir <- file.path(root, ex$classes[labeled$label[i] + 1])
    dir.create(class_dir, recursive = TRUE, showWarnings = FALSE)
    file.copy(file.path(ex$directory, labeled$image_id[i]), class_dir)
  }
  path <- withr::local_tempfile(fileext = ".keras")
  rkd_save_model(rkd_example_models(seed = 1)$student, path)
  before <- unname(tools::md5sum(path))
  expect_message(
    history <- train_scratch(path, root, rescale = 1 / 255, batch_size = 16,
                             epochs = 1, steps_per_epoch = 2, verbose = FALSE),
    "Saved the trained student", class = "rkd_saved_student"
  )
  expect_equal(history$params$classes, sort(unique(ex$classes[labeled$label + 1])))
  expect_equal(history$params$n_train, nrow(labeled))
  expect_false(identical(unname(tools::md5sum(path)), before))
  # A refused run leaves the file as it was.
  saved <- unname(tools::md5sum(path))
  expect_error(train_scratch(path, root, rescale = 0, verbose = FALSE),
               class = "rkd_data_error")
  expect_identical(unname(tools::md5sum(path)), saved)
  expect_snapshot(error = TRUE, train_scratch(path, ex$train, verbose = FALSE))
})
