test_that("a run reads its table and images, and keeps its caches, at tf.io.gfile URLs", {
  skip_if_no_pykd()
  ex <- shared_example_data()
  gfile <- reticulate::import("tensorflow")$io$gfile
  # TensorFlow's in-memory filesystem stands for gs:// or s3:// here.
  root <- paste0("ram://rkd-", basename(tempfile()))
  gfile$makedirs(paste0(root, "/images"))
  rows <- head(ex$train, 32)
  for (id in rows$image_id) {
    gfile$copy(file.path(ex$directory, id), paste0(root, "/images/", id))
  }
  csv <- withr::local_tempfile(fileext = ".csv")
  utils::write.csv(rows, csv, row.names = FALSE, na = "")
  gfile$copy(csv, paste0(root, "/train.csv"))
  models <- rkd_example_models(n_classes = 10, seed = 2)
  history <- distill(models$teacher, models$student, paste0(root, "/train.csv"),
                     paste0(root, "/images"), classes = ex$classes, batch_size = 16,
                     epochs = 2, seed = 1, verbose = FALSE,
                     cache_dir = paste0(root, "/cache"), checkpoint_dir = paste0(root, "/ck"))
  expect_equal(nrow(as.data.frame(history)), 2)
  expect_true(history$params$teacher_cache)
  expect_gt(length(gfile$glob(paste0(root, "/cache/*"))), 0)
  expect_gt(length(gfile$glob(paste0(root, "/ck/*"))), 0)
})
