fake_history <- function(validated = TRUE, mode = "distill") {
  metrics <- list(
    epoch = list(1L, 2L, 3L),
    loss = list(1.97, 1.67, 1.62),
    student_loss = list(2.1, 1.7, 1.6),
    distillation_loss = list(1.01, 1.006, 1.006),
    accuracy = list(0.50, 0.55, 0.56)
  )
  if (validated) {
    metrics$val_loss <- list(1.68, 1.75, 1.53)
    metrics$val_accuracy <- list(0.53, 0.56, NULL)
  }
  params <- list(
    mode = mode, temperature = 3, alpha = 0.9, batch_size = 8L, epochs = 3L,
    steps_per_epoch = 300L, validation_steps = 40L, n_train = 19256L,
    n_labeled = 19256L, n_validation = 2141L,
    classes = list("CBB", "CBSD", "CGM", "CMD", "Healthy"),
    teacher_params = 4061096L, student_params = 4061096L, seconds = 83.5,
    teacher_name = "sequential", student_name = "sequential_1",
    learning_rate = list(schedule = "cosine", peak = 0.01, warmup_steps = 45L, steps = 900L)
  )
  if (mode == "scratch") params$learning_rate <- list(schedule = "constant", rate = 0.001)
  rkd:::new_rkd_history(metrics, params)
}

test_that("as.data.frame() gives one row per epoch", {
  h <- fake_history()
  df <- as.data.frame(h)
  expect_s3_class(df, "data.frame")
  expect_named(df, c("epoch", "loss", "student_loss", "distillation_loss",
                     "accuracy", "val_loss", "val_accuracy"))
  expect_equal(df$epoch, 1:3)
  expect_type(df$loss, "double")
  expect_equal(df$val_accuracy, c(0.53, 0.56, NA))

  df <- as.data.frame(fake_history(validated = FALSE))
  expect_named(df, c("epoch", "loss", "student_loss", "distillation_loss",
                     "accuracy"))
})

test_that("print() shows what was trained and the final epoch", {
  expect_snapshot(print(fake_history()))
  expect_snapshot(print(fake_history(validated = FALSE, mode = "scratch")))
  h <- rkd:::new_rkd_history(list(epoch = integer()), list())
  expect_snapshot(print(h))
})

test_that("the history is plain R data and survives saveRDS()", {
  h <- fake_history()
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(h, path)
  back <- readRDS(path)
  expect_equal(back, h)
  expect_false(any(rapply(unclass(h), function(x) inherits(x, "python.builtin.object"),
                          how = "unlist")))
})

test_that("plot() draws with ggplot2 and returns the plot", {
  skip_if_not_installed("ggplot2")
  p <- plot(fake_history())
  expect_s3_class(p, "ggplot")
  built <- ggplot2::ggplot_build(p)
  expect_equal(length(built$layout$layout$PANEL), 4)
  expect_setequal(levels(p$data$series), c("loss", "student_loss",
                                           "distillation_loss", "val_loss",
                                           "accuracy", "val_accuracy"))
  # val_loss is a hard-label loss: drawn beside student_loss, on its scale;
  # the weighted loss that was minimised has a panel of its own.
  panel_of <- function(p, s) as.character(unique(p$data$panel[p$data$series %in% s]))
  expect_equal(panel_of(p, "val_loss"), panel_of(p, "student_loss"))
  expect_false(panel_of(p, "loss") %in% panel_of(p, c("val_loss", "distillation_loss")))
  expect_equal(levels(p$data$panel), c("hard-label loss", "loss (weighted, minimised)",
                                       "distillation loss", "accuracy"))
  scratch <- plot(fake_history(mode = "scratch"))
  expect_equal(panel_of(scratch, "loss"), panel_of(scratch, "val_loss"))
  # metrics = chooses what is drawn.
  chosen <- plot(fake_history(), metrics = c("val_loss", "val_accuracy"))
  expect_equal(levels(chosen$data$series), c("val_loss", "val_accuracy"))
  expect_snapshot(error = TRUE, plot(fake_history(), metrics = c("val_loss", "lr")))
  path <- withr::local_tempfile(fileext = ".png")
  grDevices::png(path)
  print(p)
  grDevices::dev.off()
  expect_gt(file.size(path), 1000)
})

test_that("plot() falls back to base graphics", {
  path <- withr::local_tempfile(fileext = ".png")
  grDevices::png(path)
  grDevices::dev.control("enable")
  out <- plot(fake_history(), method = "base", metrics = "loss")
  grDevices::dev.off()
  expect_s3_class(out, "recordedplot")
  expect_gt(file.size(path), 1000)
})

test_that("an empty history cannot be plotted", {
  h <- rkd:::new_rkd_history(list(epoch = integer()), list())
  expect_error(plot(h, method = "base"), class = "rkd_error")
})

test_that("a resumed run's time is said to be this call's epochs only", {
  h <- rkd:::new_rkd_history(
    list(epoch = list(1L, 2L, 3L), loss = list(1, 0.9, 0.8)),
    list(mode = "distill", epochs = 3L, seconds = 1.7, resumed_after_epoch = 2L)
  )
  expect_match(format(h), "this call: epoch 3, resumed from the checkpoint", fixed = TRUE, all = FALSE)
  fresh <- rkd:::new_rkd_history(list(epoch = list(1L), loss = list(1)),
                                 list(mode = "distill", epochs = 1L, seconds = 1, resumed_after_epoch = 0L))
  expect_false(any(grepl("this call", format(fresh))))
})

test_that("training shows progress bars, but no frames of them in knitted output", {
  # rkd's progress hooks as pykd calls them: 2 epochs of 3 steps.
  shown <- function() {
    hooks <- rkd:::progress_hooks()
    hooks$on_train_begin(list(epochs = 2, steps = 3))
    for (epoch in 1:2) {
      hooks$on_epoch_begin(epoch)
      for (step in 1:3) hooks$on_batch_end(step, 3)
      hooks$on_epoch_end(epoch, list(loss = 1.5))
    }
    hooks$close()
  }
  withr::local_options(cli.progress_show_after = 0, cli.dynamic = FALSE)
  expect_true(any(grepl("Epoch 1/2 .*%", capture.output(shown(), type = "message"))))
  withr::local_options(knitr.in.progress = TRUE)
  expect_equal(capture.output(shown(), type = "message"),
               c("Epoch 1/2: loss 1.5", "Epoch 2/2: loss 1.5"))
})
