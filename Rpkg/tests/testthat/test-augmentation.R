test_that("augmentation() keeps the image_data_generator() vocabulary", {
  skip_if_no_pykd()
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
  skip_if_no_pykd()
  aug <- augmentation()
  expect_equal(aug$rotation_range, 0)
  expect_false(aug$horizontal_flip)
  expect_equal(aug$fill_mode, "reflect")
})

test_that("the object holds the settings pykd accepted, as plain R values", {
  skip_if_no_pykd()
  aug <- augmentation(rotation_range = 10L, horizontal_flip = TRUE)
  expect_type(aug$rotation_range, "double")
  expect_identical(aug$horizontal_flip, TRUE)
  py <- rkd:::augment_arg(aug)
  expect_false(inherits(py, "rkd_augmentation"))
  expect_equal(py, unclass(aug))
  expect_null(rkd:::augment_arg(NULL))
  # A plain list goes as it is; pykd fills in the rest and checks it.
  expect_equal(rkd:::augment_arg(list(zoom_range = 0.1)), list(zoom_range = 0.1))
})

test_that("pykd refuses impossible settings when augmentation() is called", {
  skip_if_no_pykd()
  expect_snapshot(error = TRUE, augmentation(rotation_range = -5))
  expect_snapshot(error = TRUE, augmentation(zoom_range = 1.5))
  expect_snapshot(error = TRUE, augmentation(horizontal_flip = "yes"))
  expect_snapshot(error = TRUE, augmentation(horizontal_flip = NA))
  expect_snapshot(error = TRUE, augmentation(fill_mode = "mirror"))
  expect_snapshot(error = TRUE, augmentation(rotation_range = c(10, 20)))
  expect_error(augmentation(zoom_range = 1.5), class = "rkd_data_error")
})

test_that("augmentation survives saveRDS()", {
  skip_if_no_pykd()
  aug <- augmentation(rotation_range = 15)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(aug, path)
  expect_equal(readRDS(path), aug)
})

# A short distillation under a batch mixing (mixup or cutmix): the mixed images
# change the teacher's view every step, so nothing is cached.
expect_mixing_run <- function(augment, ex, models) {
  history <- distill(models$teacher, models$student, head(ex$train, 48), ex$directory,
                     batch_size = 8, epochs = 1, steps_per_epoch = 2,
                     augment = augment, seed = 5, verbose = FALSE)
  expect_true(history$params$augmented)
  expect_false(history$params$teacher_cache)
  expect_true(all(is.finite(as.data.frame(history)$loss)))
}

test_that("mixup is an augmentation setting that a distillation run uses", {
  skip_if_no_pykd()
  aug <- augmentation(horizontal_flip = TRUE, mixup = 0.2)
  expect_equal(aug$mixup, 0.2)
  expect_equal(format(aug), "horizontal_flip yes, mixup 0.2 (fill reflect)")
  expect_snapshot(error = TRUE, augmentation(mixup = -1))
  ex <- shared_example_data()
  models <- rkd_example_models(n_classes = 10, seed = 3)
  expect_mixing_run(augmentation(mixup = 0.4), ex, models)
  # The noised student: the teacher's logits of the original images, computed once.
  noised <- distill(models$teacher, models$student, head(ex$train, 48), ex$directory,
                    batch_size = 8, epochs = 1, steps_per_epoch = 2,
                    augment = augmentation(horizontal_flip = TRUE),
                    teacher_view = "clean", seed = 5, verbose = FALSE)
  expect_true(noised$params$teacher_cache)
  expect_equal(noised$params$teacher_view, "clean")
})

test_that("cutmix is an augmentation setting that a distillation run uses", {
  skip_if_no_pykd()
  aug <- augmentation(horizontal_flip = TRUE, cutmix = 1)
  expect_equal(aug$cutmix, 1)
  expect_equal(aug$mixup, 0)
  expect_equal(format(aug), "horizontal_flip yes, cutmix 1 (fill reflect)")
  expect_output(print(aug), "cutmix +1")
  expect_snapshot(error = TRUE, augmentation(cutmix = -1))
  expect_snapshot(error = TRUE, augmentation(mixup = 0.2, cutmix = 1))
  expect_mixing_run(augmentation(cutmix = 1), shared_example_data(),
                    rkd_example_models(n_classes = 10, seed = 3))
})
