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

test_that("one-hot columns are sent with NA as 0", {
  df <- data.frame(image_id = c("a.jpg", "b.jpg"), A = c(1, NA), B = c(NA, 0))
  py <- rkd:::table_for_py(df, "image_id", c("A", "B"))
  expect_equal(unlist(py$A), c(1, 0))
  expect_equal(unlist(py$B), c(0, 0))
  py <- rkd:::table_for_py(df, "image_id", "A")
  expect_named(py, c("image_id", "A"))
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
