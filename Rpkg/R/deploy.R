#' Predict the classes of images
#'
#' Runs `model` over a table of images, or over every image in a folder,
#' and returns one row per image with its predicted label and the
#' probability of every class. The images are read exactly as for training,
#' and the model runs in 32-bit floating point whatever precision it was
#' trained in. A model exported with [rkd_export()] (a `.tflite` file) gives
#' the same predictions as the Keras model it came from.
#'
#' A Kaggle submission is then the first two columns, written with
#' [utils::write.csv()] (see the examples).
#'
#' @inheritParams distill
#' @param model A Keras model, the path of a saved model (`.keras` or
#'   `.h5`), or the path of a `.tflite` file written by [rkd_export()].
#' @param df The images to predict: a data frame or the path of a CSV file
#'   with the `x_col` column of image file names (other columns are
#'   ignored). `NULL` predicts every image file in `directory`, sorted by
#'   name.
#' @param classes Class names in class-id order (a factor gives its
#'   levels). `NULL` takes the classes the model knows ([rkd_classes()]),
#'   else names the classes by their ids. Names in another order than the
#'   model's are refused.
#' @param image_size Height and width the images are resized to; `NULL`
#'   uses the model's input size.
#' @param rescale Factor the pixel values are multiplied by, as in
#'   training; `NULL` leaves them as they are (0 to 255).
#' @param batch_size Images per batch.
#' @param tta Test-time augmentation: `FALSE` predicts each image as it is;
#'   `TRUE` averages the probabilities of the image and its mirror image; a
#'   number `k` of the image and `k - 1` random views (a flip half of the
#'   time, shifts of up to 10%); an [augmentation()] of the image and 4 views
#'   of it. The image itself is always a view, and each image gets the same
#'   views whatever its batch or table. Flip only when a mirror image keeps
#'   its class (leaves, not digits).
#' @param on_bad_image `"error"` (the default) to stop at an unreadable
#'   image, naming it; `"skip"` to leave such images out with a warning.
#' @param ... `r options_doc("predict", own = names(formals(rkd_predict)))`
#' @param type What to return, as parsnip's `predict()` does: `"class"`
#'   (the `x_col` column and `.pred_class`), `"prob"` (the `x_col` column and
#'   the `.pred_<class>` probabilities) or `"both"` (the default: all three).
#' @return A tibble with one row per image, in the order of `df`: the
#'   `x_col` column, `.pred_class` (a factor whose levels are the classes in
#'   the model's output order: the names the model knows or `classes` gives,
#'   else the class ids `"0"`, `"1"`, ...) and one probability column per
#'   class, `.pred_<class>` (`.pred_0`, `.pred_1`, ... without names). The
#'   class id counted from 0, as Kaggle's Cassava competition scores it, is
#'   `as.integer(.pred_class) - 1`.
#' @seealso [rkd_evaluate()] and [rkd_confusion()] for a labeled table,
#'   [rkd_export()], [rkd_compare()]; `predict()` on the models rkd returns
#'   ([rkd_summary()]).
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' ex <- rkd_example_data(tempfile())
#' student <- rkd_example_models(seed = 1)$student
#' p <- rkd_predict(student, ex$validation, ex$directory,
#'                  classes = ex$classes)
#' p
#' rkd_predict(student, head(ex$validation), ex$directory, type = "class")
#' # A Kaggle submission: the image ids and the predicted labels (here the
#' # class names; as.integer(p$.pred_class) - 1 for class ids)
#' submission <- file.path(tempdir(), "submission.csv")
#' write.csv(data.frame(image_id = p$image_id, label = p$.pred_class),
#'           submission, row.names = FALSE)
#' }
rkd_predict <- function(model, df = NULL, directory, x_col = "image_id",
                        classes = NULL, image_size = NULL, rescale = NULL,
                        batch_size = 32, tta = FALSE, on_bad_image = "error",
                        type = "both", ...) {
  call <- environment()
  check_pred_type(type, call = call)
  table <- if (!is.null(df)) table_arg(df, "df", call = call)
  args <- c(
    list(pykd()$predict, model_arg(model), table),
    image_args(directory, x_col, classes, image_size, rescale, batch_size),
    list(tta = tta_arg(tta), on_bad_image = py_value(on_bad_image)),
    check_options(list(...), "predict", call = call),
    list(.call = call, .convert = FALSE)
  )
  frame <- do.call(py_call, args)
  prediction_tibble(py_frame_to_df(frame, call = call), x_col, type = type)
}

# tta as pykd takes it: TRUE/FALSE as they are, an augmentation() as its
# settings, a number of views as an integer.
tta_arg <- function(tta) {
  if (is.logical(tta) || is.list(tta)) augment_arg(tta) else as_nullable_integer(tta)
}

#' Export a model for serving
#'
#' Writes a trained model for use outside Keras: a `.tflite` file (32-bit
#' floating point, or quantized with `quantize`) runs on phones and edge
#' devices with the TensorFlow Lite interpreter, and [rkd_predict()] and
#' [rkd_compare()] read it back; a SavedModel folder serves with TensorFlow
#' Serving.
#'
#' @param model A Keras model or the path of a saved model.
#' @param path A file path ending in `.tflite`, or a folder for a
#'   SavedModel.
#' @param format `"tflite"` or `"saved_model"`; `NULL` picks `"tflite"` for
#'   a path ending in `.tflite`, else `"saved_model"`.
#' @param quantize For a `.tflite` file: `NULL` (32-bit weights),
#'   `"dynamic"` (8-bit integer weights, about a quarter of the size; inputs
#'   and outputs stay 32-bit), `"float16"` (16-bit weights, half the size)
#'   or `"int8"` (full-integer: 8-bit weights and activations, for
#'   integer-only hardware such as the Edge TPU or microcontrollers; its
#'   input and output tensors are 8-bit integers too, with the scale and
#'   zero point TensorFlow Lite records, which [rkd_predict()] and
#'   [rkd_compare()] apply). `"int8"` needs `representative`.
#'   [rkd_compare()] shows what each costs in accuracy.
#' @param representative For `quantize = "int8"` only, and needed then: real
#'   images the converter runs the model on to measure the range of every
#'   activation. A data frame or the path of a CSV file naming image files
#'   in `directory` (column `x_col`), or the path of a folder of class
#'   subfolders (then without `directory`). They are read as [rkd_predict()]
#'   reads images, at the model's input size and multiplied by `rescale`,
#'   which must be the `rescale` the model was trained with. At most 200 are
#'   used, spread evenly through the table.
#' @param directory The folder holding the images of a `representative`
#'   table.
#' @param x_col The column of `representative` naming the image files.
#' @param image_size Height and width the representative images are
#'   resized to; `NULL` uses the model's input size.
#' @param rescale Factor the representative images' pixel values are
#'   multiplied by, as in training; `NULL` leaves them as they are (0 to
#'   255).
#' @return `path`, invisibly.
#' @seealso [rkd_compare()] to weigh the exported model against others.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' student <- rkd_example_models(seed = 1)$student
#' path <- rkd_export(student, tempfile(fileext = ".tflite"))
#' file.size(path)
#' ex <- rkd_example_data(tempfile())
#' int8 <- rkd_export(student, tempfile(fileext = ".tflite"),
#'                    quantize = "int8", representative = ex$train,
#'                    directory = ex$directory)
#' file.size(int8)
#' }
rkd_export <- function(model, path, format = NULL, quantize = NULL,
                       representative = NULL, directory = NULL,
                       x_col = "image_id", image_size = NULL, rescale = NULL) {
  call <- environment()
  images <- if (!is.null(representative)) {
    table_arg(representative, "representative", call = call)
  }
  written <- py_call(pykd()$export, model_arg(model), py_path(path),
                     format = py_value(format), quantize = py_value(quantize),
                     representative = images, directory = py_path(directory),
                     x_col = py_value(x_col),
                     image_size = as_nullable_integer(image_size),
                     rescale = py_value(rescale), .call = call)
  invisible(normalizePath(written))
}

#' Compare models for deployment
#'
#' Measures every model of `models` on the same labeled table: its number
#' of parameters, its size, its speed and its accuracy, to choose which one
#' to deploy (a distilled student is worth it when it is much smaller and
#' faster than its teacher at an accuracy you can accept).
#'
#' The times are of the model alone on images already decoded, in 32-bit
#' floating point: `ms_per_image` on batches of `batch_size` images,
#' `ms_per_image_batch1` one image at a time (as a server answering single
#' requests), each the median of repeats after a warm-up. They depend on
#' the machine and on what else runs on it.
#'
#' @inheritParams distill
#' @param models A named list of models: Keras models, paths of saved
#'   models, or `.tflite` files from [rkd_export()], for example
#'   `list(teacher = teacher, student = "student.tflite")`.
#' @param df The labeled table to measure accuracy on: a data frame or the
#'   path of a CSV file.
#' @param batch_size Images per batch, for the accuracy and the batched
#'   timing.
#' @return A data frame with one row per model: `model` (its name in
#'   `models`), `params` (for a `.tflite` file, the values it stores, which
#'   the converter may have folded to a few fewer than the Keras model's), `size_mb` (the file's size in MiB, or a Keras
#'   model's size saved as `.keras`), `ms_per_image`,
#'   `ms_per_image_batch1` and `accuracy`; a tibble when `df` is one.
#' @seealso [rkd_export()], [rkd_evaluate()].
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' ex <- rkd_example_data(tempfile())
#' models <- rkd_example_models(seed = 1)
#' lite <- rkd_export(models$student, tempfile(fileext = ".tflite"))
#' rkd_compare(list(teacher = models$teacher, student = lite),
#'             ex$validation, ex$directory, y_col = ex$classes)
#' }
rkd_compare <- function(models, df, directory, x_col = "image_id",
                        y_col = "label", classes = NULL, image_size = NULL,
                        rescale = NULL, batch_size = 32) {
  call <- environment()
  check_model_list(models, call = call)
  table <- table_arg(df, "df", call = call)
  frame <- do.call(py_call, c(
    list(pykd()$compare, lapply(models, model_arg), table),
    image_args(directory, x_col, factor_classes(classes, y_col, df),
               image_size, rescale, batch_size),
    list(y_col = py_value(y_col), .call = call, .convert = FALSE)
  ))
  like_input(py_frame_to_df(frame, call = call), df)
}

# `models` of rkd_compare(): an R list whose names are the models' names
# (a Python dict on the other side, so each name once).
check_model_list <- function(models, call) {
  named <- is.list(models) && !is.data.frame(models) && !is_py_object(models) &&
    length(models) > 0 && !is.null(names(models)) &&
    all(!is.na(names(models)) & nzchar(names(models)))
  if (!named) {
    shown <- describe_value(models)
    abort_input(c(
      "x" = "{.arg models} must be a named list of models, not {shown}.",
      "i" = "Name each model, for example {.code list(teacher = teacher, student = \"student.tflite\")}."
    ), call = call)
  }
  twice <- unique(names(models)[duplicated(names(models))])
  if (length(twice) > 0) {
    abort_input(c(
      "x" = "{.arg models} has more than one model named {.val {twice}}.",
      "i" = "Give every model its own name."
    ), call = call)
  }
  invisible(models)
}
