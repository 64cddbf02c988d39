#' Load and save Keras models
#'
#' `rkd_load_model()` reads a Keras model file (`.keras`, or `.h5`) into a
#' Python model object; `rkd_save_model()` writes one. The model objects
#' are the ones the R `keras3` package works with too.
#'
#' @param path Path of the model file.
#' @param model A Keras model (a Python object).
#' @param overwrite If `FALSE`, refuse to replace an existing file.
#' @return `rkd_load_model()`: the model. `rkd_save_model()`: `path`,
#'   invisibly.
#' @export
#' @examples
#' \dontrun{
#' models <- rkd_example_models()
#' path <- rkd_save_model(models$student, tempfile(fileext = ".keras"))
#' student <- rkd_load_model(path)
#' }
rkd_load_model <- function(path) {
  py_call(pykd()$models$load_model, py_path(path), .call = environment())
}

#' @rdname rkd_load_model
#' @export
rkd_save_model <- function(model, path, overwrite = TRUE) {
  call <- environment()
  # pykd.models.save_model() always replaces the file: refusing to is R's.
  check_flag(overwrite, "overwrite", call = call)
  if (!overwrite && is.character(path) && length(path) == 1 && file.exists(path)) {
    abort_input(c(
      "x" = "The file {.path {path}} already exists.",
      "i" = "Choose another path or set {.code overwrite = TRUE}."
    ), call = call)
  }
  saved <- py_call(pykd()$models$save_model, model, py_path(path), .call = call)
  invisible(normalizePath(saved))
}

#' Freeze or unfreeze a model's layers
#'
#' `rkd_freeze()` stops layers from training; `rkd_unfreeze()` lets them
#' train again. With `from`, only the named layer and every layer after it
#' change, which is how a pretrained network's top blocks are fine-tuned
#' (the Cassava tutorial unfreezes EfficientNet from `"block5a_expand_conv"`).
#' The model is changed in place.
#'
#' @param model A Keras model (a Python object).
#' @param from Name of the first layer to change, or `NULL` for the whole
#'   model. Layers inside nested models are searched too.
#' @return `model`, invisibly.
#' @export
#' @examples
#' \dontrun{
#' student <- rkd_example_models()$student
#' rkd_freeze(student)
#' rkd_unfreeze(student, from = "block5a_expand_conv")
#' }
rkd_freeze <- function(model, from = NULL) {
  set_trainable(model, FALSE, from, call = environment())
}

#' @rdname rkd_freeze
#' @export
rkd_unfreeze <- function(model, from = NULL) {
  set_trainable(model, TRUE, from, call = environment())
}

set_trainable <- function(model, trainable, from, call) {
  py_call(pykd()$models$set_trainable, model, trainable,
          from_layer = py_value(from), .call = call)
  invisible(model)
}

#' Describe a Keras model
#'
#' @param model A Keras model (a Python object).
#' @return A list with the model's `name`, its number of parameters
#'   `params` and of trainable ones `trainable_params`, its `input_shape`
#'   (`NA` for a free dimension) and its number of outputs `n_outputs`.
#' @export
#' @examples
#' \dontrun{
#' rkd_describe(rkd_example_models()$teacher)
#' }
rkd_describe <- function(model) {
  info <- py_call(pykd()$models$describe, model, .call = environment())
  info$input_shape <- unlist(lapply(info$input_shape, function(v) {
    if (is.null(v)) NA_integer_ else as.integer(v)
  }))
  info
}

#' Small example teacher and student models
#'
#' Two small untrained convolutional networks for trying rkd out on the
#' example data of [rkd_example_data()]: a wider teacher and a narrow
#' student.
#'
#' @param input_shape Height, width and channels of the input images.
#' @param n_classes Number of classes.
#' @param seed Seed for the initial weights, or `NULL`.
#' @return A list with elements `teacher` and `student` (Keras models).
#' @export
#' @examples
#' if (rkd_available()) {
#'   models <- rkd_example_models(n_classes = 10, seed = 1)
#'   rkd_describe(models$student)
#' }
rkd_example_models <- function(input_shape = c(32, 32, 3), n_classes = 10,
                               seed = NULL) {
  call <- environment()
  models <- pykd()$models
  args <- list(
    input_shape = as_nullable_integer(input_shape),
    n_classes = as_nullable_integer(n_classes),
    seed = as_nullable_integer(seed),
    .call = call
  )
  list(
    teacher = do.call(py_call, c(list(models$example_teacher), args)),
    student = do.call(py_call, c(list(models$example_student), args))
  )
}
