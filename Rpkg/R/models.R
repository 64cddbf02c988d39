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
  call <- environment()
  check_string(path, "path", call = call)
  if (!file.exists(path)) {
    abort_input(c(
      "x" = "The model file {.path {path}} does not exist.",
      "i" = "Give the path of a Keras model saved as {.file .keras} or {.file .h5}."
    ), call = call)
  }
  path <- normalizePath(path)
  with_py_errors(pykd()$models$load_model(path), call = call)
}

#' @rdname rkd_load_model
#' @export
rkd_save_model <- function(model, path, overwrite = TRUE) {
  call <- environment()
  check_model(model, "model", call = call)
  check_string(path, "path", call = call)
  check_flag(overwrite, "overwrite", call = call)
  if (!overwrite && file.exists(path)) {
    abort_input(c(
      "x" = "The file {.path {path}} already exists.",
      "i" = "Choose another path or set {.code overwrite = TRUE}."
    ), call = call)
  }
  folder <- dirname(path)
  if (!dir.exists(folder)) {
    abort_input(c(
      "x" = "The folder {.path {folder}} does not exist.",
      "i" = "Create it first with {.code dir.create()}."
    ), call = call)
  }
  path <- file.path(normalizePath(folder), basename(path))
  with_py_errors(pykd()$models$save_model(model, path), call = call)
  invisible(path)
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
  check_model(model, "model", call = call)
  if (!is.null(from)) {
    check_string(from, "from", call = call)
  }
  with_py_errors(
    pykd()$models$set_trainable(model, trainable, from_layer = from),
    call = call
  )
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
  call <- environment()
  check_model(model, "model", call = call)
  info <- with_py_errors(pykd()$models$describe(model), call = call)
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
  if (!is.numeric(input_shape) || length(input_shape) != 3 ||
      !is_whole(input_shape) || any(input_shape < 1)) {
    shown <- describe_value(input_shape)
    abort_input(c(
      "x" = "{.arg input_shape} must be three positive whole numbers, not {shown}.",
      "i" = "Height, width and channels, for example {.code c(32, 32, 3)}."
    ), call = call)
  }
  check_count(n_classes, "n_classes", call = call)
  check_seed(seed, call = call)
  module <- pykd()
  shape <- reticulate::tuple(as.list(as.integer(input_shape)))
  seed <- if (is.null(seed)) NULL else as.integer(seed)
  with_py_errors({
    teacher <- module$models$example_teacher(
      input_shape = shape, n_classes = as.integer(n_classes), seed = seed
    )
    student <- module$models$example_student(
      input_shape = shape, n_classes = as.integer(n_classes), seed = seed
    )
  }, call = call)
  list(teacher = teacher, student = student)
}

is_py_object <- function(x) {
  inherits(x, "python.builtin.object")
}

check_model <- function(model, arg, call = parent.frame()) {
  if (!is_py_object(model)) {
    shown <- describe_value(model)
    abort_input(c(
      "x" = "{.arg {arg}} must be a Keras model, not {shown}.",
      "i" = "Load one with {.fn rkd_load_model} or build it with {.pkg keras3}."
    ), call = call)
  }
  invisible(model)
}

# A teacher or student as given to distill(): a Keras model, a model file,
# (teacher only) a list of models or a table of precomputed logits. Checked
# before Python is needed; returns a description used by resolve_model().
check_model_arg <- function(x, arg, call = parent.frame(), teacher = FALSE) {
  if (is_py_object(x)) {
    return(invisible(x))
  }
  if (is.character(x) && length(x) == 1 && !is.na(x)) {
    if (!file.exists(x)) {
      abort_input(c(
        "x" = "The {arg} model file {.path {x}} does not exist.",
        "i" = "Give a Keras model, or the path of one saved as {.file .keras} or {.file .h5}."
      ), call = call)
    }
    return(invisible(x))
  }
  if (teacher && is.data.frame(x)) {
    return(invisible(x))
  }
  if (teacher && is.list(x) && length(x) > 0 &&
      all(vapply(x, function(m) is_py_object(m) || is_model_path(m),
                 logical(1)))) {
    for (m in x) {
      if (!is_py_object(m)) check_model_arg(m, arg, call = call)
    }
    return(invisible(x))
  }
  shown <- describe_value(x)
  fix <- if (teacher) {
    "Give a Keras model, a model file, a list of models (an ensemble) or a data frame of precomputed logits."
  } else {
    "Give a Keras model or the path of a saved model."
  }
  abort_input(c(
    "x" = "{.arg {arg}} must be a Keras model or a model file, not {shown}.",
    "i" = fix
  ), call = call)
}

is_model_path <- function(x) {
  is.character(x) && length(x) == 1 && !is.na(x)
}

is_logits_path <- function(x) {
  is_model_path(x) && grepl("\\.csv$", x, ignore.case = TRUE)
}

# Turn a checked teacher/student argument into what pykd takes.
resolve_model <- function(x, call) {
  if (is_py_object(x)) {
    return(x)
  }
  if (is.data.frame(x)) {
    return(table_to_py(x, names(x)))
  }
  if (is_logits_path(x)) {
    logits <- check_table(x, "teacher", call = call)
    return(table_to_py(logits, names(logits)))
  }
  if (is_model_path(x)) {
    return(rkd_load_model(x))
  }
  lapply(unname(x), resolve_model, call = call)
}
