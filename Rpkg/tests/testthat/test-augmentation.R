test_that("augmentation() keeps the image_data_generator() vocabulary", {
  aug <- augmentation(
    rotation_range = 40, width_shift_range = 0.2, height_shift_range = 0.2,
    shear_range = 0.2, zoom_range = 0.5, horizontal_flip = TRUE,
    fill_mode = "reflect"
  )
  expect_s3_class(aug, "rkd_augmentation")
  expect_equal(aug$rotation_range, 40)
  expect_equal(aug$zoom_range, 0.5)
  expect_true(aug$horizontal_flip)
  expect_named(unclass(aug), names(formals(augmentation)))
  expect_snapshot(print(aug))
  expect_equal(
    format(aug),
    "rotation 40, width_shift 0.2, height_shift 0.2, shear 0.2, zoom 0.5, horizontal_flip yes (fill reflect)"
  )
  expect_equal(format(augmentation()), "no augmentation")
})

test_that("the defaults change nothing", {
  aug <- augmentation()
  expect_equal(aug$rotation_range, 0)
  expect_false(aug$horizontal_flip)
  expect_equal(aug$fill_mode, "reflect")
})

test_that("augmentation is sent to Python as a plain named list", {
  aug <- augmentation(rotation_range = 10L, horizontal_flip = TRUE)
  py <- rkd:::as_py_augment(aug)
  expect_false(inherits(py, "rkd_augmentation"))
  expect_type(py$rotation_range, "double")
  expect_identical(py$horizontal_flip, TRUE)
  expect_null(rkd:::as_py_augment(NULL))
  # a plain list with the same names is accepted and checked
  py <- rkd:::as_py_augment(list(zoom_range = 0.1))
  expect_equal(py$zoom_range, 0.1)
  expect_equal(py$shear_range, 0)
})

test_that("augmentation() rejects impossible settings", {
  expect_snapshot(error = TRUE, augmentation(rotation_range = -5))
  expect_snapshot(error = TRUE, augmentation(zoom_range = 1.5))
  expect_snapshot(error = TRUE, augmentation(horizontal_flip = "yes"))
  expect_snapshot(error = TRUE, augmentation(fill_mode = "mirror"))
  expect_snapshot(error = TRUE, rkd:::as_py_augment(list(vertical_flip = TRUE)))
})

test_that("augmentation survives saveRDS()", {
  aug <- augmentation(rotation_range = 15)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(aug, path)
  expect_equal(readRDS(path), aug)
})
