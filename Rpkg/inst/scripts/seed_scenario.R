#!/usr/bin/env Rscript
# The Cassava knowledge-distillation tutorial's scenario, at its full size, on
# generated data:
#   - a Cassava-style table of 21,397 images with a 0..4 label turned into
#     one-hot columns CBB, CBSD, CGM, CMD, Healthy by one_hot_labels();
#   - a validation table of 2,141 rows (2141 / 8 = 267 full batches and one
#     of 5: the tutorial's loop crashed at epoch 7 running past it);
#   - the tutorial's augmentation, batch size 8, 300 training and 40
#     validation steps per epoch, 12 epochs, temperature 3, alpha 0.9;
#   - then plot() of the history saved as a PNG.
# Tiny example models and 32x32 images keep it to a few minutes on 2 cores.
#
# Usage: Rscript seed_scenario.R history.png [work_dir]
#   (RETICULATE_PYTHON may point at the Python that has pykd.)

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) {
  stop("usage: Rscript seed_scenario.R history.png [work_dir]", call. = FALSE)
}
png_path <- args[[1]]
work_dir <- if (length(args) >= 2) args[[2]] else tempfile("rkd-seed-")

Sys.setenv(TF_CPP_MIN_LOG_LEVEL = "2")
library(rkd)
if (!rkd_available()) {
  stop("pykd is not available: see ?rkd::install_rkd", call. = FALSE)
}
started <- Sys.time()
set.seed(20210604)

# ---- generated Cassava-style data ------------------------------------------
cassava <- c("CBB", "CBSD", "CGM", "CMD", "Healthy")
share <- c(0.05, 0.10, 0.11, 0.61, 0.13)   # roughly the Kaggle class shares
n_total <- 19256 + 2141

ex <- rkd_example_data(file.path(work_dir, "example"))
# Digits 0..4 stand in for the five diseases; training and validation images
# are drawn from separate pools.
pool_train <- ex$train[!is.na(ex$train$label) & ex$train$label <= 4, ]
val_ids <- max.col(as.matrix(ex$validation[ex$classes])) - 1
pool_val <- data.frame(image_id = ex$validation$image_id, label = val_ids)
pool_val <- pool_val[pool_val$label <= 4, ]

image_dir <- file.path(work_dir, "train_images")
dir.create(image_dir, recursive = TRUE, showWarnings = FALSE)
ids <- paste0(sample(1e8:4e9, n_total), ".jpg")
ids <- unique(ids)[seq_len(n_total)]
label <- sample(0:4, n_total, replace = TRUE, prob = share)
is_val <- seq_len(n_total) %in% sample(n_total, 2141)

pick <- function(pool, k) {
  rows <- pool$image_id[pool$label == k]
  rows[sample.int(length(rows), 1)]
}
source_file <- vapply(seq_len(n_total), function(i) {
  pick(if (is_val[i]) pool_val else pool_train, label[i])
}, character(1))
copied <- file.copy(file.path(ex$directory, source_file),
                    file.path(image_dir, ids), overwrite = TRUE)
stopifnot(all(copied))

# What the tutorial did by hand, as one function call:
labels <- one_hot_labels(data.frame(image_id = ids, label = label),
                         classes = cassava)
val_labels <- labels[is_val, ]
train_labels <- labels[!labels$image_id %in% val_labels$image_id, ]
train_labels$label <- NULL
val_labels$label <- NULL
cat(sprintf("train: %d rows, validation: %d rows (%d full batches of 8 and one of %d)\n",
            nrow(train_labels), nrow(val_labels), nrow(val_labels) %/% 8,
            nrow(val_labels) %% 8))
print(head(train_labels))

# ---- models ----------------------------------------------------------------
models <- rkd_example_models(input_shape = c(32, 32, 3), n_classes = 5, seed = 1)
teacher <- models$teacher
student <- models$student
# The tutorial's teacher was fine-tuned first; give ours a short head start.
cat("Pre-training the teacher briefly...\n")
pre <- train_scratch(teacher, train_labels, image_dir, y_col = cassava,
                     batch_size = 32, epochs = 2, steps_per_epoch = 150,
                     seed = 1, verbose = FALSE)
print(pre)
cat("Teacher on the validation table:\n")
print(rkd_evaluate(teacher, val_labels, image_dir, y_col = cassava))

# ---- the tutorial's distillation run ---------------------------------------
datagen <- augmentation(
  rotation_range = 40,
  width_shift_range = 0.2,
  height_shift_range = 0.2,
  shear_range = 0.2,
  zoom_range = 0.5,
  horizontal_flip = TRUE,
  fill_mode = "reflect"
)
history <- distill(
  teacher, student, train_labels, image_dir,
  validation = val_labels,
  y_col = cassava,
  batch_size = 8,
  epochs = 12,
  steps_per_epoch = 300,
  validation_steps = 40,
  temperature = 3,
  alpha = 0.9,
  augment = datagen,
  seed = 1
)
print(history)
metrics <- as.data.frame(history)
print(metrics)
stopifnot(
  nrow(metrics) == 12,
  all(is.finite(as.matrix(metrics)))
)
cat("Student on the whole validation table:\n")
print(rkd_evaluate(student, val_labels, image_dir, y_col = cassava))

# ---- plot ------------------------------------------------------------------
grDevices::png(png_path, width = 900, height = 700, res = 110)
p <- plot(history)
if (inherits(p, "ggplot")) print(p)
invisible(grDevices::dev.off())
cat(sprintf("Saved %s; finished in %.1f minutes.\n", png_path,
            as.numeric(difftime(Sys.time(), started, units = "mins"))))
