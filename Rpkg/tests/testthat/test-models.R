test_that("example models are Keras models with the asked shape", {
  skip_if_no_pykd()
  models <- rkd_example_models(input_shape = c(32, 32, 3), n_classes = 5, seed = 1)
  expect_named(models, c("teacher", "student"))
  t <- rkd_describe(models$teacher)
  s <- rkd_describe(models$student)
  expect_equal(t$input_shape, c(32L, 32L, 3L))
  expect_equal(s$n_outputs, 5)
  expect_gt(t$params, s$params)
})

test_that("models can be saved and loaded", {
  skip_if_no_pykd()
  student <- rkd_example_models(seed = 2)$student
  path <- withr::local_tempfile(fileext = ".keras")
  expect_equal(rkd_save_model(student, path), normalizePath(path))
  expect_true(file.exists(path))
  back <- rkd_load_model(path)
  expect_equal(rkd_describe(back)$params, rkd_describe(student)$params)
  expect_snapshot(error = TRUE, transform = function(x) gsub("'[^']*'", "'<path>'", x),
                  rkd_save_model(student, path, overwrite = FALSE))
})

test_that("freezing and unfreezing from a named layer", {
  skip_if_no_pykd()
  teacher <- rkd_example_models(seed = 3)$teacher
  total <- rkd_describe(teacher)$trainable_params
  expect_gt(total, 0)
  rkd_freeze(teacher)
  expect_equal(rkd_describe(teacher)$trainable_params, 0)
  # Frozen means fixed: its dropout is off in training too, and back when it trains again.
  rate <- function() teacher$get_layer("dropout")$rate
  expect_equal(rate(), 0)
  rkd_unfreeze(teacher)
  expect_equal(rkd_describe(teacher)$trainable_params, total)
  expect_equal(rate(), 0.3)
  rkd_freeze(teacher, keep_dropout = TRUE)
  expect_equal(rate(), 0.3)
  rkd_unfreeze(teacher)
  rkd_freeze(teacher)
  out <- rkd_unfreeze(teacher, from = "logits")
  expect_identical(out, teacher)
  trainable <- rkd_describe(teacher)$trainable_params
  expect_gt(trainable, 0)
  expect_lt(trainable, total)
  # print() and summary() of the model rkd made: layers, trainable and
  # frozen parameters, input size and classes.
  rkd_set_classes(teacher, paste0("digit_", 0:9))
  expect_s3_class(teacher, "rkd_model")
  expect_snapshot(print(teacher))
  s <- summary(teacher)
  expect_equal(s$frozen_params, total - trainable)
  expect_equal(sum(s$layers$params), s$params)
  expect_equal(sum(s$layers$trainable_params), trainable)
  err <- expect_error(rkd_unfreeze(teacher, from = "block5a_expand_conv"),
                      class = "rkd_data_error")
  expect_match(conditionMessage(err), "no layer named .block5a_expand_conv.")
})

test_that("pykd refuses what the model helpers cannot use", {
  skip_if_no_pykd()
  expect_snapshot(error = TRUE, rkd_load_model("no-such-model.keras"))
  expect_snapshot(error = TRUE, rkd_freeze("model"))
  expect_snapshot(error = TRUE, rkd_example_models(input_shape = c(2, 2, 3)))
  expect_snapshot(error = TRUE, rkd_example_models(n_classes = 0))
})

test_that("legacy .h5 weights saved after rkd_unfreeze() load into a model built afresh", {
  skip_if_no_pykd()
  # A backbone nested in the model, as in rkd_classifier()'s (built small here).
  reticulate::py_run_string(paste(
    "import keras",
    "def rkd_test_nested(seed):",
    "    keras.utils.set_random_seed(seed)",
    "    inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name='a'),",
    "                              keras.layers.Conv2D(4, 3, name='b')], name='backbone')",
    "    return keras.Sequential([keras.Input((8, 8, 3)), inner, keras.layers.Flatten(name='flat'),",
    "                             keras.layers.Dense(3, name='out')])",
    sep = "\n"
  ))
  # Keras' legacy .h5 order puts trainable weights first; pykd loads them by name.
  trained <- reticulate::py$rkd_test_nested(1L)
  rkd_freeze(trained)
  rkd_unfreeze(trained, from = "b")
  path <- rkd_save_weights(trained, withr::local_tempfile(fileext = ".h5"))
  fresh <- reticulate::py$rkd_test_nested(2L)
  expect_false(weight_sum(fresh) == weight_sum(trained))
  rkd_load_weights(fresh, path)
  expect_equal(weight_sum(fresh), weight_sum(trained))
})

