#' Confusion matrix of a model on a labelled table
#'
#' Counts, over the labelled rows of a table, how often each true class
#' (rows) was predicted as each class (columns), taking every image's top
#' class as [rkd_predict()] does. The labels are read in the model's class
#' order, as [rkd_evaluate()] reads them. A model may also be a `.tflite`
#' file from [rkd_export()].
#'
#' @inheritParams rkd_evaluate
#' @param model A Keras model, the path of a saved model, or a `.tflite`
#'   file.
#' @return An `rkd_confusion`: an integer [table] with dimensions `Truth` x
#'   `Prediction` whose dimnames are the classes (their ids `"0"`, `"1"`,
#'   ... when neither the model nor `classes` names them). `print()` adds
#'   the accuracy; `plot()` draws it with base graphics and `autoplot()` with
#'   ggplot2, the counts in the cells and the diagonal in colour;
#'   `as.data.frame()` gives one row per cell (`Truth`, `Prediction`,
#'   `Freq`).
#' @seealso [rkd_evaluate()] for recall and precision per class.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' ex <- rkd_example_data(tempfile())
#' student <- rkd_example_models(seed = 1)$student
#' cm <- rkd_confusion(student, ex$validation, ex$directory,
#'                     y_col = ex$classes)
#' cm
#' plot(cm)
#' }
rkd_confusion <- function(model, df, directory, x_col = "image_id",
                          y_col = "label", classes = NULL, image_size = NULL,
                          rescale = NULL, batch_size = 32,
                          on_bad_image = "error") {
  call <- environment()
  table <- table_arg(df, "df", call = call)
  counts <- confusion_counts(model, table, directory, x_col, y_col,
                             factor_classes(classes, y_col, df), image_size,
                             rescale, batch_size, on_bad_image, call)
  new_rkd_confusion(counts)
}

# pykd.serve.confusion.confusion() for the labelled rows of `table` (already
# converted for Python): list(classes, n_classes, counts = rows of counts).
confusion_counts <- function(model, table, directory, x_col, y_col, classes,
                             image_size, rescale, batch_size, on_bad_image,
                             call) {
  fun <- pykd_module("serve.confusion")$confusion
  do.call(py_call, c(
    list(fun, model_arg(model), table),
    image_args(directory, x_col, classes, image_size, rescale, batch_size),
    list(y_col = py_value(y_col), on_bad_image = py_value(on_bad_image),
         .call = call)
  ))
}

new_rkd_confusion <- function(counts) {
  k <- as.integer(counts$n_classes)
  classes <- if (is.null(counts$classes)) {
    as.character(seq_len(k) - 1L)
  } else {
    as.character(unlist(counts$classes))
  }
  m <- matrix(as.integer(unlist(counts$counts)), nrow = k, ncol = k,
              byrow = TRUE)
  dimnames(m) <- list(Truth = classes, Prediction = classes)
  structure(m, class = c("rkd_confusion", "table"))
}

# rkd_evaluate()'s tibble: accuracy and loss, then recall and precision per
# class from the confusion counts.
metrics_tibble <- function(result, counts) {
  m <- unclass(new_rkd_confusion(counts))
  classes <- rownames(m)
  hits <- unname(diag(m))
  truths <- unname(rowSums(m))
  predicted <- unname(colSums(m))
  ratio <- function(a, b) ifelse(b > 0, a / b, NA_real_)
  n <- as_number(result$n)
  tibble::tibble(
    .metric = c("accuracy", "loss", rep("recall", length(classes)),
                rep("precision", length(classes))),
    .class = c(NA, NA, classes, classes),
    .estimate = c(as_number(result$accuracy), as_number(result$loss),
                  ratio(hits, truths), ratio(hits, predicted)),
    n = as.integer(c(n, n, truths, predicted))
  )
}

#' @export
print.rkd_confusion <- function(x, ...) {
  n <- sum(x)
  accuracy <- if (n > 0) sum(diag(unclass(x))) / n else NA_real_
  cli::cat_line(
    "<rkd_confusion> ", big(n), " labelled image", if (n != 1) "s",
    ", ", nrow(x), " classes, accuracy ", format_metric(accuracy)
  )
  print(unclass_table(x), ...)
  invisible(x)
}

# The counts as a plain table (for print and as.data.frame).
unclass_table <- function(x) {
  structure(unclass(x), class = "table")
}

#' @export
as.data.frame.rkd_confusion <- function(x, row.names = NULL, optional = FALSE,
                                        ...) {
  as.data.frame(unclass_table(x), stringsAsFactors = TRUE)
}

#' @rdname rkd_confusion
#' @param x An `rkd_confusion`.
#' @param y Ignored.
#' @param ... Ignored.
#' @export
plot.rkd_confusion <- function(x, y, ...) {
  m <- unclass(x)
  k <- nrow(m)
  classes <- rownames(m)
  old <- graphics::par(mar = c(5, 6, 3, 1))
  on.exit(graphics::par(old))
  shade <- confusion_shades(m)
  # image() draws rows along x: transposed, truth runs down the y axis.
  graphics::image(seq_len(k), seq_len(k), t(shade)[, k:1, drop = FALSE],
                  col = grDevices::hcl.colors(64, "Blues 3", rev = TRUE),
                  zlim = c(0, 1), axes = FALSE, xlab = "Prediction", ylab = "",
                  main = "Confusion matrix")
  graphics::axis(1, at = seq_len(k), labels = classes, las = 2, tick = FALSE)
  graphics::axis(2, at = seq_len(k), labels = rev(classes), las = 1,
                 tick = FALSE)
  graphics::mtext("Truth", side = 2, line = 5)
  cells <- expand.grid(row = seq_len(k), col = seq_len(k))
  graphics::text(cells$col, k + 1 - cells$row, m[cbind(cells$row, cells$col)],
                 col = ifelse(shade[cbind(cells$row, cells$col)] > 0.6,
                              "white", "black"), cex = 0.8)
  plot <- tryCatch(grDevices::recordPlot(), error = function(e) NULL)
  invisible(plot)
}

# Each cell's share of its true class (the row), for the colours.
confusion_shades <- function(m) {
  totals <- rowSums(m)
  totals[totals == 0] <- 1
  m / totals
}

#' @rdname rkd_confusion
#' @param object An `rkd_confusion`.
#' @exportS3Method ggplot2::autoplot
autoplot.rkd_confusion <- function(object, ...) {
  aes <- ggplot2::aes
  d <- as.data.frame(object)
  d$share <- as.vector(confusion_shades(unclass(object)))
  d$Truth <- factor(d$Truth, levels = rev(rownames(object)))
  ggplot2::ggplot(d, aes(x = .data$Prediction, y = .data$Truth,
                         fill = .data$share)) +
    ggplot2::geom_tile(colour = "white") +
    ggplot2::geom_text(aes(label = .data$Freq,
                           colour = .data$share > 0.6), size = 3) +
    ggplot2::scale_fill_gradient(low = "#F7FBFF", high = "#08306B",
                                 limits = c(0, 1), name = "Share of\ntruth") +
    ggplot2::scale_colour_manual(values = c(`FALSE` = "black",
                                            `TRUE` = "white"), guide = "none") +
    ggplot2::labs(title = "Confusion matrix") +
    ggplot2::theme_minimal() +
    ggplot2::theme(axis.text.x = ggplot2::element_text(angle = 45, hjust = 1))
}
