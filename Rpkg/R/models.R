#' Load and save Keras models
#'
#' `rkd_load_model()` reads a Keras model file (`.keras`, or `.h5`) into a
#' Python model object; `rkd_save_model()` writes one. The model objects
#' are the ones the R `keras3` package works with too.
#'
#' @param path Path of the model file.
#' @param model A Keras model (a Python object).
#' @param overwrite If `FALSE`, refuse to replace an existing file.
#' @return `rkd_load_model()`: the model, of class `rkd_model` as well (see
#'   [rkd_summary()]). `rkd_save_model()`: `path`, invisibly.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' models <- rkd_example_models(seed = 1)
#' path <- rkd_save_model(models$student, tempfile(fileext = ".keras"))
#' student <- rkd_load_model(path)
#' rkd_describe(student)$params
#' }
rkd_load_model <- function(path) {
  as_rkd_model(py_call(pykd()$models$load_model, py_path(path),
                       .call = environment()))
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
  invisible(saved_path(saved))
}

# A saved file's path as R shows it: local paths made absolute, URLs
# (gs://...) as they are.
saved_path <- function(path) {
  if (grepl("^[A-Za-z][A-Za-z0-9+.-]*://", path)) path else normalizePath(path)
}

#' Freeze or unfreeze a model's layers
#'
#' `rkd_freeze()` stops layers from training; `rkd_unfreeze()` lets them
#' train again. With `from`, only the named layer and every layer after it
#' change, which is how a pretrained network's top blocks are fine-tuned
#' (the Cassava tutorial unfreezes EfficientNet from `"block5a_expand_conv"`).
#' The model is changed in place.
#'
#' A frozen part is a fixed feature extractor: its dropout, stochastic depth
#' (EfficientNet's) and noise layers are off in training too, which Keras
#' does not do for a model frozen by hand. Its output is then the same every
#' epoch, so [distill()] computes it once per image (`cache_features`).
#' Unfreezing gives each layer back its own setting.
#'
#' @param model A Keras model (a Python object).
#' @param from Name of the first layer to change, or `NULL` for the whole
#'   model. Layers inside nested models are searched too.
#' @param keep_dropout `TRUE` leaves the frozen layers' dropout and noise on.
#' @return `model`, invisibly.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' student <- rkd_example_models(seed = 1)$student
#' rkd_freeze(student)
#' rkd_describe(student)$trainable_params  # 0
#' # The layer "conv2" and every layer after it train again
#' rkd_unfreeze(student, from = "conv2")
#' rkd_describe(student)$trainable_params
#' }
rkd_freeze <- function(model, from = NULL, keep_dropout = FALSE) {
  set_trainable(model, FALSE, from, keep_dropout, call = environment())
}

#' @rdname rkd_freeze
#' @export
rkd_unfreeze <- function(model, from = NULL, keep_dropout = FALSE) {
  set_trainable(model, TRUE, from, keep_dropout, call = environment())
}

set_trainable <- function(model, trainable, from, keep_dropout, call) {
  py_call(pykd()$models$set_trainable, model, trainable,
          from_layer = py_value(from), keep_dropout = keep_dropout,
          .call = call)
  invisible(model)
}

#' Describe a Keras model
#'
#' @param model A Keras model (a Python object).
#' @return A list with the model's `name`, its number of parameters
#'   `params` and of trainable ones `trainable_params`, its `input_shape`
#'   (`NA` for a free dimension) and its number of outputs `n_outputs`.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' rkd_describe(rkd_example_models(seed = 1)$teacher)
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
#' @return A list with elements `teacher` and `student` (Keras models, of
#'   class `rkd_model` as well: see [rkd_summary()]).
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' models <- rkd_example_models(n_classes = 10, seed = 1)
#' rkd_describe(models$student)
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
    teacher = as_rkd_model(do.call(py_call, c(list(models$example_teacher), args))),
    student = as_rkd_model(do.call(py_call, c(list(models$example_student), args)))
  )
}

#' A transfer-learning image classifier
#'
#' Builds the classifier of the Cassava tutorial on any of the `keras`
#' application networks: the `backbone` without its top, global max (or
#' average) pooling, batch normalisation, dropout and a softmax layer of
#' `n_classes` units. The model takes pixel values from 0 to 255 (train it
#' with `rescale = NULL`): a backbone that expects other scaling gets it
#' inside the model.
#'
#' With `freeze_backbone = TRUE` only the head trains (8,965 parameters for
#' EfficientNet-B0 and 5 classes); [rkd_unfreeze()] with `from` then trains
#' the top blocks too. The backbone is the layer named `"backbone"`; its own
#' layers keep their `keras` names, such as `"block5a_expand_conv"`.
#'
#' The backbone is a fixed feature extractor: its own dropout (EfficientNet's
#' stochastic depth) is off. A frozen backbone then computes the same output
#' every epoch, so [distill()] computes it once per image and trains only the
#' head (`cache_features = "auto"`); after [rkd_unfreeze()] the cached part
#' ends before the first unfrozen block.
#'
#' @param backbone Name of the network, in snake case: for example
#'   `"efficientnet_b0"`, `"mobilenet_v3_small"`, `"resnet50"` or
#'   `"convnext_tiny"` (an unknown name is refused with the list of known
#'   ones).
#' @param n_classes Number of classes (at least 2).
#' @param input_shape Height, width and channels of the input images, such
#'   as `c(224, 224, 3)`; height and width alone mean RGB.
#' @param weights `NULL` for random weights, `"imagenet"` for the ImageNet
#'   weights (downloaded by `keras`, which needs the network), or the path
#'   of a weights file for the backbone (such as `keras`' `*_notop.h5`
#'   downloads) or for the whole classifier (see [rkd_save_weights()]).
#' @param freeze_backbone If `TRUE`, only the head is trained.
#' @param pooling `"max"` (as in the tutorial) or `"avg"`.
#' @param dropout Dropout rate before the last layer, in \[0, 1).
#' @param seed Seed for the random weights and the dropout, or `NULL`.
#' @param classes Optional class names in output order (`n_classes` of
#'   them; a factor gives its levels). The model then knows them: see
#'   [rkd_classes()].
#' @return A Keras model (a Python object), of class `rkd_model` as well
#'   (see [rkd_summary()]).
#' @seealso [rkd_freeze()], [rkd_save_weights()], [distill()].
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' model <- rkd_classifier("mobilenet_v3_small", n_classes = 5,
#'                         input_shape = c(64, 64, 3))
#' rkd_describe(model)$trainable_params
#' }
rkd_classifier <- function(backbone, n_classes, input_shape, weights = NULL,
                           freeze_backbone = TRUE, pooling = "max",
                           dropout = 0.5, seed = NULL, classes = NULL) {
  as_rkd_model(py_call(
    pykd()$models$classifier,
    py_value(backbone),
    as_nullable_integer(n_classes),
    as_nullable_integer(input_shape),
    weights = py_path(weights),
    freeze_backbone = py_value(freeze_backbone),
    pooling = py_value(pooling),
    dropout = py_value(dropout),
    seed = as_nullable_integer(seed),
    classes = classes_arg(classes),
    .call = environment()
  ))
}

#' The classes a model knows
#'
#' [distill()] and [train_scratch()] record the class names in the student,
#' in the order of its outputs, and [rkd_classifier()] with `classes` in a
#' new model. [rkd_save_model()], [rkd_save_weights()] and [rkd_export()]
#' keep them in the file. [rkd_predict()] then names its labels by them, and
#' [rkd_evaluate()], [rkd_compare()] and [distill()] match a table's labels
#' to them by name: a `classes` argument or factor levels in another order
#' are refused, naming both orders, rather than silently renaming every
#' label.
#'
#' @param model A Keras model (a Python object); for `rkd_classes()` also
#'   the path of a file rkd wrote (`.keras`, `.h5`, `.weights.h5`,
#'   `.tflite`).
#' @param classes Class names in output order (a factor gives its levels),
#'   or `NULL` to forget them.
#' @return `rkd_classes()`: a character vector, or `NULL` when the model
#'   does not know its classes. `rkd_set_classes()`: `model`, invisibly.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' student <- rkd_example_models(seed = 1)$student
#' rkd_set_classes(student, paste0("class_", 0:9))
#' rkd_classes(student)
#' }
rkd_classes <- function(model) {
  known <- py_call(pykd()$models$classes_of, model_arg(model), .call = environment())
  if (is.null(known)) NULL else as.character(unlist(known))
}

#' @rdname rkd_classes
#' @export
rkd_set_classes <- function(model, classes) {
  py_call(pykd()$models$set_classes, model, classes_arg(classes),
          .call = environment())
  invisible(model)
}

#' Save and load a model's weights
#'
#' `rkd_save_weights()` writes only the weights of a model (no
#' architecture, no optimizer), which is smaller than a whole model file;
#' `rkd_load_weights()` reads them into a model built the same way, for
#' example with the same call to [rkd_classifier()]. Weights that do not
#' fit the model are refused and leave it unchanged.
#'
#' @param model A Keras model (a Python object). `rkd_load_weights()`
#'   changes it in place.
#' @param path Path of the weights file, ending in `.weights.h5` (or `.h5`
#'   for the older `keras` layout).
#' @return `rkd_save_weights()`: the path written, invisibly.
#'   `rkd_load_weights()`: `model`, invisibly.
#' @seealso [rkd_save_model()] for whole models.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' student <- rkd_example_models(seed = 1)$student
#' path <- rkd_save_weights(student, tempfile(fileext = ".weights.h5"))
#' rebuilt <- rkd_example_models(seed = 2)$student
#' rkd_load_weights(rebuilt, path)
#' }
rkd_save_weights <- function(model, path) {
  saved <- py_call(pykd()$models$save_weights, model, py_path(path),
                   .call = environment())
  invisible(saved_path(saved))
}

#' @rdname rkd_save_weights
#' @export
rkd_load_weights <- function(model, path) {
  py_call(pykd()$models$load_weights, model, py_path(path),
          .call = environment())
  invisible(model)
}
