# The shapes rkd returns its tables in: tidymodels' prediction columns
# (.pred_class, .pred_<class>) and "tibble in, tibble out".

# pykd's prediction frame (x_col, label, one probability column per class)
# as parsnip shapes it: x_col, .pred_class (a factor whose levels are the
# classes in output order, or the class ids "0", "1", ... when the classes are
# not known) and .pred_<class> probabilities. `type` keeps the class column,
# the probabilities, or both.
prediction_tibble <- function(frame, x_col, type) {
  prob_cols <- setdiff(names(frame), c(x_col, "label"))
  label <- frame$label
  # pykd names the columns (and the label) by the classes when it knows them,
  # else prob_0, prob_1, ... (and the label is the class id).
  ids <- is.numeric(label) && all(grepl("^prob_[0-9]+$", prob_cols))
  classes <- if (ids) sub("^prob_", "", prob_cols) else prob_cols
  label <- if (is.numeric(label)) classes[as.integer(label) + 1L] else as.character(label)
  out <- list()
  out[[x_col]] <- frame[[x_col]]
  if (type != "prob") {
    out$.pred_class <- factor(label, levels = classes)
  }
  if (type != "class") {
    probs <- frame[prob_cols]
    names(probs) <- paste0(".pred_", classes)
    out <- c(out, probs)
  }
  tibble::as_tibble(out, .name_repair = "minimal")
}

# The `type` of rkd_predict() and predict(): "both", "class" or "prob".
check_pred_type <- function(type, call) {
  choices <- c("both", "class", "prob")
  if (!is.character(type) || length(type) != 1 || !type %in% choices) {
    shown <- describe_value(type)
    abort_input(c(
      "x" = "{.arg type} must be one of {.or {.val {choices}}}, not {shown}.",
      "i" = "{.val class} gives {.field .pred_class}, {.val prob} the {.field .pred_<class>} probabilities, {.val both} all of them."
    ), call = call)
  }
  type
}

# A data frame the way the user's table came: a tibble when `input` was one,
# else a plain data.frame.
like_input <- function(out, input) {
  if (inherits(input, "tbl_df")) tibble::as_tibble(out) else out
}
