cassava <- c("CBB", "CBSD", "CGM", "CMD", "Healthy")

test_that("one_hot_labels() reproduces the tutorial's hand-written columns", {
  skip_if_no_pykd()
  labels <- data.frame(
    image_id = c("1000015157.jpg", "1000201771.jpg", "100042118.jpg",
                 "1000723321.jpg", "1000812911.jpg", "1000837476.jpg"),
    label = c(0, 3, 1, 1, 3, 3)
  )
  out <- one_hot_labels(labels, classes = cassava)
  expect_named(out, c("image_id", "label", cassava))
  expect_equal(out$CBB, c(1, 0, 0, 0, 0, 0))
  expect_equal(out$CBSD, c(0, 0, 1, 1, 0, 0))
  expect_equal(out$CGM, rep(0, 6))
  expect_equal(out$CMD, c(0, 1, 0, 0, 1, 1))
  expect_equal(out$Healthy, rep(0, 6))
  expect_equal(unname(rowSums(out[cassava])), rep(1, 6))
  expect_equal(out$label, labels$label)
})

test_that("a missing label gives a row of zeros", {
  skip_if_no_pykd()
  df <- data.frame(image_id = c("a.jpg", "b.jpg", "c.jpg"), label = c(2, NA, 4))
  out <- one_hot_labels(df, classes = cassava, drop = TRUE)
  expect_named(out, c("image_id", cassava))
  expect_equal(unname(unlist(out[2, cassava])), rep(0, 5))
  expect_equal(unname(unlist(out[3, cassava])), c(0, 0, 0, 0, 1))
})

test_that("labels may be class names, text ids or factors", {
  skip_if_no_pykd()
  df <- data.frame(image_id = c("a.jpg", "b.jpg", "c.jpg"),
                   label = c("CMD", NA, "CBB"))
  out <- one_hot_labels(df, classes = cassava)
  expect_equal(out$CMD, c(1, 0, 0))
  expect_equal(out$CBB, c(0, 0, 1))

  df$label <- factor(c("CMD", NA, "CBB"))
  expect_equal(one_hot_labels(df, classes = cassava)$CMD, c(1, 0, 0))

  df$label <- c("4", "", "0")
  out <- one_hot_labels(df, classes = cassava)
  expect_equal(out$Healthy, c(1, 0, 0))
  expect_equal(out$CBB, c(0, 0, 1))
})

test_that("without classes the labels name the columns", {
  skip_if_no_pykd()
  df <- data.frame(image_id = c("a.jpg", "b.jpg", "c.jpg"), label = c(2, 0, NA))
  out <- one_hot_labels(df)
  expect_named(out, c("image_id", "label", "0", "1", "2"))
  expect_equal(out[["1"]], c(0, 0, 0))
  df$label <- c("leaf", "root", "leaf")
  out <- one_hot_labels(df, label_col = "label")
  expect_equal(out$leaf, c(1, 0, 1))
  expect_equal(out$root, c(0, 1, 0))
})

test_that("a tibble stays a tibble", {
  skip_if_no_pykd()
  skip_if_not_installed("tibble")
  tb <- tibble::tibble(image_id = c("a.jpg", "b.jpg"), label = c(1, 0))
  out <- one_hot_labels(tb, classes = c("neg", "pos"))
  expect_s3_class(out, "tbl_df")
  expect_equal(out$pos, c(1, 0))
})

test_that("one_hot_labels() explains bad input", {
  skip_if_no_pykd()
  df <- data.frame(image_id = c("a.jpg", "b.jpg"), label = c(1, 7))
  expect_snapshot(error = TRUE, one_hot_labels(df, classes = cassava))
  expect_snapshot(error = TRUE, one_hot_labels(df, label_col = "y"))
  expect_snapshot(error = TRUE, one_hot_labels(as.matrix(df)))
  expect_snapshot(error = TRUE, one_hot_labels(df, classes = c("CBB", "CBB")))
  df <- data.frame(image_id = c("a.jpg", "b.jpg"), label = c(1, 0), CBSD = 0)
  expect_snapshot(error = TRUE, one_hot_labels(df, classes = cassava))
  df <- data.frame(image_id = "a.jpg", label = "CMD")
  expect_snapshot(error = TRUE, one_hot_labels(df, classes = c("x", "y")))
  df <- data.frame(image_id = c("a.jpg", "b.jpg"), label = c(1.5, 0))
  expect_snapshot(error = TRUE, one_hot_labels(df))
  expect_error(one_hot_labels(df), class = "rkd_data_error")
})
