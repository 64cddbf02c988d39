# plot() of an rkd_history: one panel per kind of figure, so that only
# figures on one scale share an axis. The weighted loss that was minimised
# (alpha * hard + (1 - alpha) * T^2 * KL) is not val_loss's scale: val_loss
# is the hard-label loss, drawn beside the training hard-label loss.

# Columns not drawn by default: those not shown, and in a run from scratch
# the hard-label loss, which is the loss itself (drawn once, as loss).
hidden_series <- function(x) {
  c(hidden_columns(x), if (identical(x$params$mode, "scratch")) "student_loss")
}

# The panel of each series: the hard-label losses (student_loss and val_loss,
# and the loss of a run from scratch) together, the accuracies together,
# every other figure on its own.
history_panel <- function(series, mode) {
  hard <- c("student_loss", "val_loss", if (identical(mode, "scratch")) "loss")
  panel <- ifelse(series %in% hard, "hard-label loss",
           ifelse(series %in% c("accuracy", "val_accuracy"), "accuracy",
           ifelse(series == "loss", "loss (weighted, minimised)",
           gsub("_", " ", series, fixed = TRUE))))
  order <- c("hard-label loss", "loss (weighted, minimised)", "distillation loss",
             "hint loss", "accuracy")
  factor(panel, levels = c(intersect(order, panel), setdiff(unique(panel), order)))
}

# The series to draw: `metrics` (columns of the history), or the default.
plot_series <- function(x, metrics) {
  m <- x$metrics
  if (is.null(metrics)) {
    return(setdiff(intersect(names(history_colours), names(m)), hidden_series(x)))
  }
  available <- setdiff(names(m)[vapply(m, function(v) any(!is.na(v)), logical(1))], "epoch")
  if (!is.character(metrics) || length(metrics) == 0 || anyNA(metrics)) {
    cli::cli_abort(c(
      "x" = "{.arg metrics} must name columns of the history.",
      "i" = "Choose from {.val {available}}."
    ), class = "rkd_error", call = NULL)
  }
  unknown <- setdiff(metrics, available)
  if (length(unknown) > 0) {
    cli::cli_abort(c(
      "x" = "The history has no {.val {unknown}} to plot.",
      "i" = "Choose from {.val {available}}."
    ), class = "rkd_error", call = NULL)
  }
  unique(metrics)
}

# Long table for plotting: epoch, value, series, panel.
history_long <- function(x, metrics = NULL) {
  m <- x$metrics
  series <- plot_series(x, metrics)
  rows <- lapply(series, function(s) {
    data.frame(epoch = m$epoch, value = m[[s]],
               series = rep(s, length(m$epoch)), stringsAsFactors = FALSE)
  })
  long <- do.call(rbind, c(rows, list(data.frame(epoch = integer(), value = double(),
                                                 series = character()))))
  long <- long[!is.na(long$value), , drop = FALSE]
  long$panel <- history_panel(long$series, x$params$mode)
  long$series <- factor(long$series, levels = intersect(series, unique(long$series)))
  long
}

# One colour per series (Okabe and Ito's palette, readable with colour
# blindness); validation series are dashed as well.
history_colours <- c(
  loss = "#0072B2", student_loss = "#E69F00", distillation_loss = "#CC79A7",
  hint_loss = "#000000", val_loss = "#56B4E9", accuracy = "#009E73",
  val_accuracy = "#D55E00"
)

# The colours of `series`: their own, else grey.
series_colours <- function(series) {
  colours <- rep("#666666", length(series))
  names(colours) <- series
  known <- intersect(series, names(history_colours))
  colours[known] <- history_colours[known]
  colours
}

# Whole-number epochs for the axis ticks: pretty() within the limits,
# rounded, never a fraction of an epoch.
epoch_breaks <- function(limits) {
  lo <- ceiling(min(limits) - 1e-9)
  hi <- floor(max(limits) + 1e-9)
  if (hi < lo) {
    return(round(mean(limits)))
  }
  breaks <- unique(round(pretty(c(lo, hi))))
  breaks[breaks >= lo & breaks <= hi]
}

#' @rdname rkd_history
#' @param y Ignored.
#' @param method `"ggplot2"` (the default when it is installed) or
#'   `"base"` graphics.
#' @param metrics For `plot()`: the columns of the history to draw, such as
#'   `c("val_loss", "val_accuracy")` or `"learning_rate"`; `NULL` draws the
#'   losses and accuracies.
#' @return `plot()`: a ggplot object with `method = "ggplot2"`; with base
#'   graphics, the recorded plot (see [grDevices::recordPlot()]), invisibly.
#' @export
plot.rkd_history <- function(x, y, method = c("auto", "ggplot2", "base"),
                             metrics = NULL, ...) {
  method <- match.arg(method)
  if (method == "auto") {
    method <- if (requireNamespace("ggplot2", quietly = TRUE)) "ggplot2" else "base"
  }
  long <- history_long(x, metrics)
  if (nrow(long) == 0) {
    cli::cli_abort(c(
      "x" = "The history has no finished epoch to plot.",
      "i" = "Train for at least one epoch."
    ), class = "rkd_error")
  }
  if (method == "ggplot2") {
    if (!requireNamespace("ggplot2", quietly = TRUE)) {
      cli::cli_abort(c(
        "x" = "{.pkg ggplot2} is not installed.",
        "i" = "Install it, or use {.code method = \"base\"}."
      ), class = "rkd_error")
    }
    return(plot_history_ggplot(long, x))
  }
  plot_history_base(long, x)
}

plot_history_ggplot <- function(long, x) {
  aes <- ggplot2::aes
  long$validation <- ifelse(grepl("^val_", long$series), "validation", "training")
  title <- if (identical(x$params$mode, "scratch")) {
    "Training from scratch"
  } else {
    "Knowledge distillation"
  }
  ggplot2::ggplot(long, aes(x = .data$epoch, y = .data$value,
                            colour = .data$series)) +
    ggplot2::geom_line(aes(linetype = .data$validation)) +
    ggplot2::geom_point(size = 1) +
    ggplot2::facet_wrap(~panel, ncol = 1, scales = "free_y") +
    ggplot2::scale_colour_manual(values = series_colours(levels(long$series)), name = NULL) +
    ggplot2::scale_linetype_manual(
      values = c(training = "solid", validation = "dashed"), name = NULL
    ) +
    ggplot2::scale_x_continuous(breaks = epoch_breaks, minor_breaks = NULL) +
    ggplot2::labs(x = "Epoch", y = NULL, title = title) +
    ggplot2::theme_bw()
}

plot_history_base <- function(long, x) {
  panels <- levels(droplevels(long$panel))
  old <- graphics::par(mfrow = c(length(panels), 1), mar = c(4, 4, 2, 10))
  on.exit(graphics::par(old))
  epochs <- sort(unique(long$epoch))
  colours <- series_colours(levels(long$series))
  for (panel in panels) {
    d <- long[long$panel == panel, , drop = FALSE]
    series <- levels(droplevels(d$series))
    graphics::plot(range(d$epoch), range(d$value), type = "n", xaxt = "n",
                   xlab = "Epoch", ylab = "", main = panel)
    graphics::axis(1, at = epoch_breaks(range(epochs)))
    for (s in series) {
      ds <- d[d$series == s, , drop = FALSE]
      graphics::lines(ds$epoch, ds$value, type = "o", pch = 20,
                      col = colours[[s]],
                      lty = if (grepl("^val_", s)) 2 else 1)
    }
    usr <- graphics::par("usr")
    graphics::legend(usr[2], usr[4], legend = series, xpd = NA,
                     col = colours[series],
                     lty = ifelse(grepl("^val_", series), 2, 1), pch = 20,
                     bty = "n", cex = 0.8)
  }
  plot <- tryCatch(grDevices::recordPlot(), error = function(e) NULL)
  invisible(plot)
}
