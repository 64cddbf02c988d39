#' Summarise a Keras model, and the models rkd returns
#'
#' `rkd_summary()` describes any Keras model (or a saved model file): its
#' layers, its parameters (trainable and frozen), its input size and the
#' classes it knows.
#'
#' The models are Python objects, which the R `keras3` package also works
#' with, so rkd does not add methods to their Python classes. It adds the
#' class `rkd_model` to the models it creates or loads
#' ([rkd_example_models()], [rkd_classifier()], [rkd_load_model()]), and
#' methods for that class only:
#'
#' * `print()` and `summary()` show `rkd_summary()`;
#' * `predict(model, new_data, directory)` is [rkd_predict()] for a table
#'   of images (a data frame or CSV path), or for every image in
#'   `directory` when `new_data` is `NULL`. Anything else (an array, say)
#'   goes on to the next method, such as `keras3`'s.
#'
#' A model built with `keras3` itself keeps `keras3`'s methods; pass it to
#' `rkd_summary()` or [rkd_predict()].
#'
#' @param model,object,x A Keras model (a Python object); for
#'   `rkd_summary()` also the path of a saved model (`.keras` or `.h5`).
#' @param ... For `predict()`: further arguments of [rkd_predict()]
#'   (`classes`, `rescale`, `tta`, ...). Otherwise ignored.
#' @return `rkd_summary()` and `summary()`: an `rkd_model_summary`, a list
#'   with `name`, `params`, `trainable_params`, `frozen_params`,
#'   `input_shape` (`NA` for a free dimension), `n_outputs`, `classes`
#'   (`NULL` when the model does not know them) and `layers`, a tibble of
#'   the top-level layers (`name`, `type`, `params`, `trainable_params`; a
#'   nested model such as a backbone is one layer). `print()`: `x`,
#'   invisibly. `predict()`: as [rkd_predict()].
#' @seealso [rkd_describe()] for the same figures as a plain list.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' student <- rkd_example_models(seed = 1)$student
#' student
#' rkd_summary(student)$layers
#' }
rkd_summary <- function(model) {
  if (is.character(model) && length(model) == 1) {
    model <- rkd_load_model(model)
  }
  info <- rkd_describe(model)
  layers <- layer_rows(model)
  structure(list(
    name = info$name,
    params = info$params,
    trainable_params = info$trainable_params,
    frozen_params = info$params - info$trainable_params,
    input_shape = info$input_shape,
    n_outputs = info$n_outputs,
    classes = rkd_classes(model),
    layers = layers
  ), class = "rkd_model_summary")
}

# The model's top-level layers: name, type (the Keras class), params and
# trainable_params (plain strings and numbers from Python).
layer_rows <- function(model) {
  count_trainable <- pykd_module("models.introspection")$trainable_params
  layers <- reticulate::py_get_attr(model, "layers")
  if (is_py_object(layers)) layers <- reticulate::py_to_r(layers)
  row <- function(layer) {
    params <- tryCatch(as.numeric(layer$count_params()), error = function(e) 0)
    list(name = as.character(layer$name),
         type = sub(".*[.]", "", class(layer)[1]),
         params = params,
         trainable_params = as.numeric(count_trainable(layer)))
  }
  rows <- lapply(layers, row)
  tibble::tibble(
    name = vapply(rows, `[[`, character(1), "name"),
    type = vapply(rows, `[[`, character(1), "type"),
    params = vapply(rows, `[[`, numeric(1), "params"),
    trainable_params = vapply(rows, `[[`, numeric(1), "trainable_params")
  )
}

#' @export
format.rkd_model_summary <- function(x, ...) {
  shape <- ifelse(is.na(x$input_shape), "any", x$input_shape)
  classes <- if (is.null(x$classes)) {
    paste0(x$n_outputs, " outputs; the model does not know its classes (see rkd_set_classes())")
  } else {
    shown <- utils::head(x$classes, 8)
    more <- length(x$classes) - length(shown)
    paste0(length(x$classes), ": ", paste(shown, collapse = ", "),
           if (more > 0) paste0(", ... (", more, " more)"))
  }
  c(
    paste0("<rkd_model> ", x$name, ": ", big(x$params), " parameters (",
           big(x$trainable_params), " trainable, ", big(x$frozen_params),
           " frozen)"),
    paste0("Input:    ", paste(shape, collapse = " x ")),
    paste0("Classes:  ", classes),
    paste0("Layers:   ", nrow(x$layers))
  )
}

#' @export
print.rkd_model_summary <- function(x, ...) {
  cli::cat_line(format(x))
  cli::cat_line(layer_lines(x$layers))
  invisible(x)
}

# The layer table as aligned text: names left, counts right.
layer_lines <- function(layers) {
  cells <- list(
    c("Layer", layers$name), c("Type", layers$type),
    c("Params", big(layers$params)), c("Trainable", big(layers$trainable_params))
  )
  widths <- vapply(cells, function(v) max(nchar(v)), numeric(1))
  padded <- Map(function(v, w, left) formatC(v, width = if (left) -w else w),
                cells, widths, c(TRUE, TRUE, FALSE, FALSE))
  paste0("  ", do.call(paste, c(padded, sep = "  ")))
}

#' @rdname rkd_summary
#' @export
print.rkd_model <- function(x, ...) {
  print(rkd_summary(x))
  invisible(x)
}

#' @rdname rkd_summary
#' @export
summary.rkd_model <- function(object, ...) {
  rkd_summary(object)
}

#' @rdname rkd_summary
#' @param new_data The images to predict: a data frame or the path of a CSV
#'   file with an `image_id` column (see `x_col` of [rkd_predict()]), or
#'   `NULL` for every image in `directory`.
#' @param directory The folder holding the images.
#' @param type `"both"`, `"class"` or `"prob"`, as for [rkd_predict()].
#' @importFrom stats predict
#' @export
predict.rkd_model <- function(object, new_data = NULL, directory = NULL,
                              type = "both", ...) {
  table_like <- is.data.frame(new_data) ||
    (is.character(new_data) && length(new_data) == 1) ||
    (is.null(new_data) && !is.null(directory))
  if (table_like) {
    return(rkd_predict(object, new_data, directory, type = type, ...))
  }
  others <- class(object)[-1]
  has_method <- vapply(others, function(cl) {
    !is.null(utils::getS3method("predict", cl, optional = TRUE))
  }, logical(1))
  if (any(has_method)) {
    return(NextMethod())
  }
  shown <- describe_value(new_data)
  abort_input(c(
    "x" = "{.arg new_data} must be a data frame or CSV path naming images, not {shown}.",
    "i" = "For example {.code predict(model, test, directory = \"images\")}, or {.code predict(model, directory = \"images\")} for every image in a folder."
  ), call = environment())
}

# The models rkd makes or loads, classed for the methods above (the Python
# object is the same: only its R wrapper gains the class).
as_rkd_model <- function(x) {
  if (is_py_object(x) && !inherits(x, "rkd_model")) {
    class(x) <- c("rkd_model", class(x))
  }
  x
}
