# The frozen-backbone feature cache from R: the tutorial's student trains the
# same with and without it, and says what it cached.

test_that("a frozen rkd_classifier() trains the same with and without the feature cache", {
  skip_on_cran()
  skip_if_no_pykd()
  ex <- rkd_example_data(tempfile())
  train <- head(ex$train, 48)
  teacher <- rkd_example_models(n_classes = length(ex$classes), seed = 1)$teacher
  run <- function(...) {
    student <- rkd_classifier("efficientnet_b0", n_classes = length(ex$classes),
                              input_shape = c(32, 32, 3), seed = 1)
    distill(teacher, student, train, ex$directory, validation = head(ex$validation, 16),
            classes = ex$classes, batch_size = 16, epochs = 2, seed = 1,
            verbose = FALSE, ...)
  }
  # The example teacher has fewer parameters than EfficientNet-B0, but more than the
  # student trains: no warning of a swap.
  expect_no_warning(cached <- run())
  uncached <- run(cache_features = FALSE)
  expect_equal(cached$params$feature_cache$ends_at, "pool")
  expect_equal(cached$params$feature_cache$shape, 1280L)
  expect_null(uncached$params$feature_cache)
  expect_equal(as.data.frame(cached), as.data.frame(uncached), tolerance = 1e-5)
  expect_match(format(cached), "Cached:   the student's frozen layers up to 'pool', computed once per image (1,280 values each)",
               fixed = TRUE, all = FALSE)
  # TRUE insists, and says in R's terms why it cannot apply.
  expect_snapshot(error = TRUE, run(cache_features = TRUE, augment = augmentation(horizontal_flip = TRUE)))
})
