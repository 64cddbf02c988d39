# The frozen-backbone feature cache from R: the tutorial's student caches its
# frozen base and says so. (That it trains the same with and without the
# cache is tested in Python: tests/test_features.py.)

test_that("a frozen rkd_classifier() caches its base and says what it cached", {
  skip_on_cran()
  skip_if_no_pykd()
  ex <- shared_example_data()
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
  expect_equal(cached$params$feature_cache$ends_at, "pool")
  expect_equal(cached$params$feature_cache$shape, 1280L)
  expect_match(format(cached), "Cached:   the student's frozen layers up to 'pool', computed once per image (1,280 values each)",
               fixed = TRUE, all = FALSE)
  # TRUE insists, and says in R's terms why it cannot apply.
  expect_snapshot(error = TRUE, run(cache_features = TRUE, augment = augmentation(horizontal_flip = TRUE)))
})
