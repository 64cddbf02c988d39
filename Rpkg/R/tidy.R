#' Tidy and glance at histories, sweeps and noised-student rounds
#'
#' Methods for the `generics` (and `broom`) verbs, each returning a tibble:
#'
#' * `tidy()` of an [rkd_history]: one row per epoch and metric (`epoch`,
#'   `metric`, `value`), ready for ggplot2; of [rkd_noisy_student()]'s rounds
#'   the same with a `round` column first; of an [rkd_sweep()] result its
#'   rows, one per setting.
#' * `glance()` of an [rkd_history]: one row with the run's settings and its
#'   final and best figures (`mode`, `epochs`, `temperature`, `alpha`,
#'   `n_train`, the last epoch's `loss`, `accuracy`, `val_loss`,
#'   `val_accuracy`, then `best_val_accuracy`, `best_epoch`, `seconds`,
#'   `interrupted`); of noised-student rounds one such row per round, with
#'   `round` and `teacher`; of a sweep one row: `settings`, and the best
#'   setting's `temperature`, `alpha` and `val_accuracy` (the highest final
#'   `val_accuracy`, ties broken by the lower `val_loss`, as `keep_best`
#'   chooses; `NA` without validation).
#'
#' @param x An [rkd_history], the result of [rkd_noisy_student()] (class
#'   `rkd_rounds`) or of [rkd_sweep()] (class `rkd_sweep`).
#' @param ... Ignored.
#' @return A tibble.
#' @name tidy.rkd_history
#' @examples
#' # A history is plain R data: here one made by hand.
#' h <- rkd:::new_rkd_history(
#'   list(epoch = 1:2, loss = c(1.2, 0.8), accuracy = c(0.5, 0.7),
#'        val_loss = c(1.1, 0.9), val_accuracy = c(0.55, 0.65)),
#'   list(mode = "distill", temperature = 3, alpha = 0.1, epochs = 2)
#' )
#' tidy(h)
#' glance(h)
NULL

#' @importFrom generics tidy
#' @export
generics::tidy

#' @importFrom generics glance
#' @export
generics::glance

#' @rdname tidy.rkd_history
#' @method tidy rkd_history
#' @export
tidy.rkd_history <- function(x, ...) {
  m <- x$metrics
  columns <- setdiff(names(m), hidden_columns(x))
  columns <- columns[vapply(m[columns], function(v) any(!is.na(v)), logical(1))]
  tibble::tibble(
    epoch = rep(m$epoch, times = length(columns)),
    metric = rep(columns, each = nrow(m)),
    value = unlist(m[columns], use.names = FALSE)
  )
}

#' @rdname tidy.rkd_history
#' @method glance rkd_history
#' @export
glance.rkd_history <- function(x, ...) {
  p <- x$params
  m <- x$metrics
  last <- function(col) {
    if (nrow(m) == 0 || is.null(m[[col]])) NA_real_ else m[[col]][nrow(m)]
  }
  val <- m$val_accuracy
  has_val <- !is.null(val) && any(!is.na(val))
  scalar <- function(v, na = NA_real_) {
    if (is.null(v) || length(v) != 1) na else v
  }
  tibble::tibble(
    mode = scalar(p$mode, NA_character_),
    epochs = nrow(m),
    temperature = as.numeric(scalar(p$temperature)),
    alpha = as.numeric(scalar(p$alpha)),
    n_train = as.numeric(scalar(p$n_train)),
    loss = last("loss"),
    accuracy = last("accuracy"),
    val_loss = last("val_loss"),
    val_accuracy = last("val_accuracy"),
    best_val_accuracy = if (has_val) max(val, na.rm = TRUE) else NA_real_,
    best_epoch = if (has_val) m$epoch[which.max(val)] else NA_integer_,
    seconds = as.numeric(scalar(p$seconds)),
    interrupted = isTRUE(p$interrupted)
  )
}

# --- The noised student's rounds --------------------------------------------

new_rkd_rounds <- function(histories) {
  structure(histories, class = "rkd_rounds")
}

#' @export
`[.rkd_rounds` <- function(x, i) {
  new_rkd_rounds(unclass(x)[i])
}

#' @export
format.rkd_rounds <- function(x, ...) {
  n <- length(x)
  lines <- paste0("<rkd_rounds> noised student: ", n, " round", if (n != 1) "s")
  for (k in seq_along(x)) {
    h <- x[[k]]
    m <- h$metrics
    final <- if (nrow(m) > 0) {
      last <- m[nrow(m), intersect(c("loss", "accuracy", "val_loss", "val_accuracy"),
                                   names(m)), drop = FALSE]
      values <- unlist(last)
      values <- values[!is.na(values)]
      paste0(", ", paste0(names(values), " ", format_metric(values), collapse = ", "))
    } else {
      ", no epoch finished"
    }
    teacher <- h$params$teacher_name
    lines <- c(lines, paste0(
      "Round ", k, ": taught by ", if (is.null(teacher)) "the teacher" else teacher,
      "; ", nrow(m), " epoch", if (nrow(m) != 1) "s", final
    ))
  }
  lines
}

#' @export
print.rkd_rounds <- function(x, ...) {
  cli::cat_line(format(x))
  invisible(x)
}

#' @export
as.data.frame.rkd_rounds <- function(x, row.names = NULL, optional = FALSE,
                                     ...) {
  parts <- lapply(seq_along(x), function(k) {
    m <- x[[k]]$metrics
    cbind(data.frame(round = rep(k, nrow(m))), m)
  })
  columns <- unique(unlist(lapply(parts, names)))
  parts <- lapply(parts, function(p) {
    p[setdiff(columns, names(p))] <- NA_real_
    p[columns]
  })
  do.call(rbind, parts)
}

#' @rdname tidy.rkd_history
#' @method tidy rkd_rounds
#' @export
tidy.rkd_rounds <- function(x, ...) {
  parts <- lapply(seq_along(x), function(k) {
    t <- tidy(x[[k]])
    tibble::add_column(t, round = rep(k, nrow(t)), .before = 1)
  })
  do.call(rbind, parts)
}

#' @rdname tidy.rkd_history
#' @method glance rkd_rounds
#' @export
glance.rkd_rounds <- function(x, ...) {
  parts <- lapply(seq_along(x), function(k) {
    teacher <- x[[k]]$params$teacher_name
    tibble::add_column(glance(x[[k]]), round = k,
                       teacher = if (is.null(teacher)) NA_character_ else teacher,
                       .before = 1)
  })
  do.call(rbind, parts)
}

# --- Sweeps -------------------------------------------------------------------

# rkd_sweep()'s rows, classed for tidy() and glance(), a tibble when `input`
# (the training table) was one.
new_rkd_sweep <- function(result, input) {
  result <- like_input(result, input)
  class(result) <- unique(c("rkd_sweep", class(result)))
  result
}

#' @rdname tidy.rkd_history
#' @method tidy rkd_sweep
#' @export
tidy.rkd_sweep <- function(x, ...) {
  tibble::as_tibble(strip_sweep(x))
}

#' @rdname tidy.rkd_history
#' @method glance rkd_sweep
#' @export
glance.rkd_sweep <- function(x, ...) {
  d <- strip_sweep(x)
  best <- if ("val_accuracy" %in% names(d) && any(!is.na(d$val_accuracy))) {
    loss <- if ("val_loss" %in% names(d)) d$val_loss else rep(0, nrow(d))
    order(-d$val_accuracy, loss)[1]
  }
  pick <- function(col) if (is.null(best)) NA_real_ else d[[col]][best]
  tibble::tibble(
    settings = nrow(d),
    temperature = pick("temperature"),
    alpha = pick("alpha"),
    val_accuracy = pick("val_accuracy")
  )
}

strip_sweep <- function(x) {
  class(x) <- setdiff(class(x), "rkd_sweep")
  as.data.frame(x)
}
