# Bad arguments, tables and models are refused before the first step. R
# refuses only what is R's (a table that is neither a data frame nor a CSV
# path, unnamed or unknown options in `...`, verbose); everything else is
# pykd's rule and arrives as an rkd_data_error with pykd's message.

test_that("R refuses what only R knows: R types and the names in ...", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  train <- ex$train
  dir <- ex$directory
  expect_snapshot(error = TRUE, distill(t, s, list(a = 1), dir))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, 0.1))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, verbose = NA))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, learning_rat = 0.1))
  list_column <- train
  list_column$image_id <- I(as.list(list_column$image_id))
  expect_snapshot(error = TRUE, distill(t, s, list_column, dir))
  expect_s3_class(catch_error(distill(t, s, list(a = 1), dir)), "rkd_input_error")
  # An unknown option is pykd's to name: it knows the options, and the one meant.
  expect_s3_class(catch_error(distill(t, s, train, dir, learning_rat = 0.1)), "rkd_data_error")
})

test_that("pykd refuses bad settings, in R syntax", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  train <- ex$train
  dir <- ex$directory
  expect_snapshot(error = TRUE, distill(t, s, "not-there.csv", dir))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, y_col = "class"))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, x_col = "file"))
  expect_snapshot(error = TRUE,
    distill(t, s, train, dir, x_col = "file", y_col = c("CBB", "CMD"))
  )
  expect_snapshot(error = TRUE, distill(t, s, train, dir, alpha = 1.5))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, alpha = -0.1))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, temperature = 0))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, batch_size = 0))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, epochs = 2.5))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, steps_per_epoch = 0))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, validation_steps = -1))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, image_size = 224))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, image_size = c(224, 0)))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, image_size = c(224, 224)))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, seed = 1.5))
  expect_snapshot(error = TRUE, distill(t, s, train, dir, augment = "flip"))
  expect_snapshot(error = TRUE,
    distill(t, s, train, dir, augment = list(vertical_flip = TRUE))
  )
  err <- catch_error(distill(t, s, train, dir, epochs = 2.5))
  expect_s3_class(err, "rkd_data_error")
  expect_equal(err$python_type, "DataError")
  expect_equal(deparse(conditionCall(err)[[1]]), "distill")
})

test_that("pykd refuses missing or unusable models", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  expect_snapshot(error = TRUE, distill("teacher.keras", s, ex$train, ex$directory))
  expect_snapshot(error = TRUE, distill(t, 42, ex$train, ex$directory))
  expect_snapshot(error = TRUE, train_scratch(list(1), ex$train, ex$directory))
  empty <- withr::local_tempfile(fileext = ".keras")
  file.create(empty)
  err <- catch_error(distill(t, empty, ex$train, ex$directory))
  expect_s3_class(err, "rkd_data_error")
  expect_match(flat_message(err), "Could not load the student")
})

test_that("missing images are counted and the first few named", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  train <- ex$train
  train$image_id[c(3, 10:17)] <- sprintf("missing_%02d.jpg", 1:9)
  expect_snapshot(
    error = TRUE, transform = scrub_paths,
    distill(t, s, train, ex$directory)
  )
  expect_snapshot(
    error = TRUE, transform = scrub_paths,
    distill(t, s, ex$train, file.path(ex$directory, "nope"))
  )
  err <- catch_error(distill(t, s, train, ex$directory))
  expect_s3_class(err, "rkd_data_error")
  expect_match(flat_message(err), sprintf("9 of %d image files", nrow(train)))
})

test_that("ids must be present and unique", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  dup <- rbind(ex$train, ex$train[c(5, 5, 9), ])
  expect_snapshot(error = TRUE, distill(t, s, dup, ex$directory))
  empty <- ex$train
  empty$image_id[c(2, 4)] <- NA
  expect_snapshot(error = TRUE, distill(t, s, empty, ex$directory))
})

test_that("labels must be among the classes", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  expect_snapshot(error = TRUE,
    distill(t, s, ex$train, ex$directory, classes = c("zero", "one", "two"))
  )
  named <- ex$train
  named$label <- ex$classes[named$label + 1]
  expect_snapshot(error = TRUE, distill(t, s, named, ex$directory))
  named$label[7] <- "eleven"
  expect_snapshot(error = TRUE,
    distill(t, s, named, ex$directory, classes = ex$classes)
  )
  negative <- ex$train
  negative$label[1] <- -1
  expect_snapshot(error = TRUE, distill(t, s, negative, ex$directory))
  expect_snapshot(error = TRUE,
    distill(t, s, ex$train, ex$directory, classes = c("a", "a", "b"))
  )
})

test_that("one-hot rows may hold at most one 1", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  val <- ex$validation
  val$zero[c(1, 4, 8)] <- 1
  val$one[c(1, 4, 8)] <- 1
  expect_snapshot(error = TRUE,
    distill(t, s, val, ex$directory, y_col = ex$classes)
  )
  val <- ex$validation
  val$two[3] <- 2
  expect_snapshot(error = TRUE,
    distill(t, s, val, ex$directory, y_col = ex$classes)
  )
  expect_snapshot(error = TRUE,
    distill(t, s, ex$validation, ex$directory, y_col = ex$classes,
            classes = c("a", "b"))
  )
})

test_that("the validation table is checked like the training table", {
  t <- test_models()$teacher
  s <- test_models()$student
  ex <- shared_example_data()
  val <- ex$validation
  val$image_id[2] <- "gone.jpg"
  expect_snapshot(
    error = TRUE, transform = scrub_paths,
    distill(t, s, ex$train, ex$directory, validation = val,
            classes = ex$classes)
  )
  # Without classes, a one-hot validation table has no label column to use.
  expect_snapshot(error = TRUE,
    distill(t, s, ex$train, ex$directory, validation = ex$validation)
  )
  # With them, a one-hot column left out is named.
  expect_snapshot(error = TRUE,
    distill(t, s, ex$train, ex$directory, validation = ex$validation[names(ex$validation) != "three"],
            classes = ex$classes)
  )
})

test_that("CSV paths, tibbles and factor columns are tables", {
  skip_if_not_installed("tibble")
  ex <- shared_example_data()
  student <- rkd_example_models(seed = 21)$student
  # A one-hot training table with a factor id column, as a tibble; the
  # validation table as a CSV path with a label column (the other layout).
  train <- tibble::as_tibble(ex$validation)
  train$image_id <- factor(train$image_id)
  labels <- data.frame(image_id = ex$validation$image_id,
                       label = max.col(as.matrix(ex$validation[ex$classes])) - 1)
  val_csv <- withr::local_tempfile(fileext = ".csv")
  utils::write.csv(labels, val_csv, row.names = FALSE)
  # The same images as training and validation table: allowed, with a warning.
  expect_warning(
    history <- train_scratch(student, train, ex$directory, validation = val_csv,
                             y_col = ex$classes, batch_size = 16, epochs = 1,
                             steps_per_epoch = 2, validation_steps = 1,
                             augment = list(rotation_range = 5), verbose = FALSE),
    "also training images", class = "rkd_warning"
  )
  expect_equal(history$params$n_train, nrow(train))
  expect_equal(history$params$n_validation, nrow(labels))
  expect_equal(unlist(history$params$classes), ex$classes)
  expect_true(history$params$augmented)
  # and the CSV path of the training table
  history <- train_scratch(student, ex$train_csv, ex$directory,
                           classes = ex$classes, batch_size = 16, epochs = 1,
                           steps_per_epoch = 1, verbose = FALSE)
  expect_equal(history$params$n_train, sum(!is.na(ex$train$label)))
})

test_that("rkd_options() lists what each function passes on to pykd, from pykd", {
  skip_if_no_pykd()
  options <- rkd_options("train_scratch")
  expect_named(options, c("name", "default", "description"))
  expect_true(all(c("optimizer", "cache_images", "run_eagerly") %in% options$name))
  expect_false("temperature" %in% options$name)
  expect_equal(options$default[options$name == "resume"], "FALSE")
  expect_equal(options$default[options$name == "cache_images"], "\"auto\"")
  expect_equal(rkd_options("rkd_sweep")$name, rkd_options("sweep")$name)
  expect_snapshot(error = TRUE, rkd_options("fit"))
  expect_snapshot(error = TRUE, train_scratch(test_models()$student, "x.csv", "dir", batchSize = 8))
  # An option the function sets itself is named as such, with the R function's name.
  m <- test_models()
  expect_error(rkd_noisy_student(m$teacher, m$student, "x.csv", "dir", teacher_view = "same"),
               'rkd_noisy_student\\(\\) always uses teacher_view = "clean"', class = "rkd_data_error")
})

test_that("R's own arguments default as pykd's declaration of them says", {
  skip_if_no_pykd()
  functions <- list(distill = distill, train_scratch = train_scratch,
                    rkd_noisy_student = rkd_noisy_student, rkd_sweep = rkd_sweep,
                    rkd_evaluate = rkd_evaluate, rkd_predict = rkd_predict,
                    rkd_compare = rkd_compare, teacher_logits = teacher_logits,
                    out_of_fold_logits = out_of_fold_logits)
  for (name in names(functions)) {
    declared <- rkd_options(name)
    own <- formals(functions[[name]])
    # verbose is R's own: TRUE or FALSE for a progress bar drawn in R.
    for (arg in intersect(names(own), setdiff(declared$name, "verbose"))) {
      if (identical(own[[arg]], quote(expr = ))) next  # no default: R asks for it
      expect_equal(paste(deparse(own[[arg]]), collapse = ""),
                   declared$default[declared$name == arg], info = paste0(name, "(", arg, ")"))
    }
  }
})
