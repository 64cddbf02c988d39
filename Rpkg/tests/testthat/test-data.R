test_that("tables cross to Python as named lists of plain lists", {
  df <- data.frame(
    image_id = c("a.jpg", "b.jpg", NA),
    label = c(1L, NA, 0L),
    flag = c(TRUE, FALSE, NA),
    kind = factor(c("x", "y", "x")),
    stringsAsFactors = FALSE
  )
  py <- rkd:::table_to_py(df)
  expect_type(py, "list")
  expect_named(py, c("image_id", "label", "flag", "kind"))
  expect_true(all(vapply(py, is.list, logical(1))))
  expect_identical(py$image_id[[1]], "a.jpg")
  expect_null(py$image_id[[3]])
  expect_identical(py$label[[1]], 1)
  expect_true(is.nan(py$label[[2]]))
  expect_identical(py$flag[[2]], 0)
  expect_true(is.nan(py$flag[[3]]))
  expect_identical(py$kind[[2]], "y")
  # nothing in it is a matrix, array or data frame
  expect_false(any(rapply(py, function(x) !is.null(dim(x)), how = "unlist")))
})

test_that("a one-row table keeps its columns as lists", {
  py <- rkd:::table_to_py(data.frame(image_id = "a.jpg", label = 3))
  expect_type(py$image_id, "list")
  expect_length(py$image_id, 1)
  expect_type(py$label, "list")
})

test_that("dates and other atomic columns go as text, list columns are refused", {
  df <- data.frame(image_id = c("a.jpg", "b.jpg"), day = as.Date(c("2024-01-02", NA)))
  py <- rkd:::table_to_py(df)
  expect_identical(py$day[[1]], "2024-01-02")
  expect_null(py$day[[2]])
  df$files <- I(list("a", "b"))
  expect_error(rkd:::table_to_py(df), class = "rkd_input_error")
})

test_that("settings cross as plain values; whether they are valid is pykd's", {
  int <- rkd:::as_nullable_integer
  expect_identical(int(32), 32L)
  expect_null(int(NULL))
  expect_identical(int(c(224, 224)), list(224L, 224L))
  # Not whole, not one number, not a number: sent unchanged for pykd to refuse.
  expect_identical(int(2.5), 2.5)
  expect_identical(int(c(224, 0.5)), list(224L, 0.5))
  expect_identical(int("8"), "8")
  expect_identical(int(1e10), 1e10)
  # NA is NaN: reticulate would send a logical NA as True.
  expect_true(is.nan(int(NA)))
  expect_true(is.nan(rkd:::py_value(NA)))
  expect_true(is.nan(rkd:::py_value(NA_character_)))
  value <- rkd:::py_value
  expect_identical(value(c(height = 1, width = 2)), list(1, 2))
  expect_identical(value("label"), "label")
  expect_identical(value(c("CBB", "CMD")), list("CBB", "CMD"))
  expect_identical(value(factor("a")), "a")
  expect_identical(value(list(zoom_range = 0.1, flip = NA))$flip, NaN)
  # classes are text, always a list; a factor gives its levels
  expect_identical(rkd:::classes_arg(c(0, 1)), list("0", "1"))
  expect_identical(rkd:::classes_arg("CBB"), list("CBB"))
  expect_identical(rkd:::classes_arg(factor(c("b", "a", "b"))), list("a", "b"))
  expect_null(rkd:::classes_arg(NULL))
  # a table is a data frame or a CSV path
  expect_identical(rkd:::table_arg("~/train.csv", "df"), path.expand("~/train.csv"))
  expect_error(rkd:::table_arg(list(a = 1), "df"), class = "rkd_input_error")
  expect_identical(rkd:::model_arg(c("a.keras", "b.keras")), list("a.keras", "b.keras"))
})

test_that("rkd_example_data() writes the Cassava-style layout", {
  dir <- withr::local_tempdir()
  ex <- rkd_example_data(file.path(dir, "ex"))
  expect_true(dir.exists(ex$directory))
  expect_true(file.exists(ex$train_csv))
  expect_true(file.exists(ex$validation_csv))
  expect_equal(ex$classes, c("zero", "one", "two", "three", "four", "five",
                             "six", "seven", "eight", "nine"))
  expect_named(ex$train, c("image_id", "label"))
  expect_named(ex$validation, c("image_id", ex$classes))
  expect_equal(nrow(ex$train), 1438)
  expect_equal(nrow(ex$validation), 359)
  expect_true(anyNA(ex$train$label))
  expect_true(all(ex$train$label %in% c(NA, 0:9)))
  expect_true(all(rowSums(ex$validation[ex$classes]) == 1))
  expect_true(all(file.exists(file.path(ex$directory, ex$train$image_id))))
  expect_true(all(file.exists(file.path(ex$directory, ex$validation$image_id))))
  expect_snapshot(error = TRUE, transform = function(x) gsub("'[^']*'", "'<dir>'", x),
                  rkd_example_data(file.path(dir, "ex"), overwrite = FALSE))
})

test_that("rkd_fashion_mnist() writes real data in the Cassava layout", {
  skip_if_no_pykd()
  skip_if_not(dir.exists("/usr/share/datasets/fashion-mnist"),
              "Debian's dataset-fashion-mnist is not installed")
  withr::local_dir(withr::local_tempdir())
  fm <- rkd_fashion_mnist("fm", n_train = 100, labeled_fraction = 0.2,
                          n_test = 30, seed = 1)
  # Absolute paths from a relative dir, as rkd_example_data() gives them.
  expect_equal(c(fm$directory, fm$train_csv, fm$test_csv),
               normalizePath(file.path("fm", c("images", "train.csv", "test.csv"))))
  expect_true(all(startsWith(c(fm$directory, fm$train_csv, fm$test_csv), "/")))
  expect_length(fm$classes, 10)
  expect_equal(nrow(fm$train), 100)
  expect_equal(nrow(fm$test), 30)
  expect_true(all(file.exists(file.path(fm$directory, fm$train$image_id))))
  expect_equal(sum(!is.na(fm$train$label)), 20)
  expect_false(anyNA(fm$test$label))
  expect_snapshot(error = TRUE, transform = function(x) gsub('"/tmp[^"]*"', "<dir>", x),
                  rkd_fashion_mnist(withr::local_tempdir(), source = withr::local_tempdir()))
})
