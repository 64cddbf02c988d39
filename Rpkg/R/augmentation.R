#' Describe random image augmentation
#'
#' The augmentation settings of the old `keras::image_data_generator()`,
#' kept as a plain R object so it can be printed, saved and reused. Pass it
#' as `augment` to [distill()] or [train_scratch()]; it is sent to Python as
#' a dictionary of the same names. Only the training images are augmented.
#'
#' The settings are checked when the object is made, by `pykd` (so this
#' needs Python): a negative range, a shift or zoom of 1 or more, or an
#' unknown `fill_mode` is an error of class `rkd_data_error` here rather
#' than when training starts.
#'
#' @param rotation_range Largest random rotation, in degrees.
#' @param width_shift_range,height_shift_range Largest random shift, as a
#'   fraction of the width or height.
#' @param shear_range Largest shear angle, in degrees.
#' @param zoom_range Random zoom between `1 - zoom_range` and
#'   `1 + zoom_range`.
#' @param horizontal_flip Randomly flip images left to right.
#' @param fill_mode How to fill pixels shifted in from outside the image:
#'   `"reflect"`, `"nearest"`, `"constant"` or `"wrap"`.
#' @param mixup Mix each image with another image of its batch (mixup), the
#'   weight drawn from Beta(`mixup`, `mixup`): 0.2 to 0.4 is usual, 0 is off.
#'   The teacher sees the same mixture and the label term mixes both labels,
#'   which is "consistent" distillation (Beyer et al., 2022).
#' @param cutmix Paste a box of another image of its batch into each image
#'   (CutMix, Yun et al., 2019), the box's share of the area drawn from
#'   Beta(`cutmix`, `cutmix`): 1 is usual, 0 is off. As with `mixup`, the
#'   teacher sees the same image and the label term mixes both labels, by
#'   the area each image shows. Use `mixup` or `cutmix`, not both.
#' @return An object of class `rkd_augmentation`: a named list.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' # The settings of the Cassava tutorial
#' aug <- augmentation(
#'   rotation_range = 40, width_shift_range = 0.2, height_shift_range = 0.2,
#'   shear_range = 0.2, zoom_range = 0.5, horizontal_flip = TRUE
#' )
#' aug
#' }
augmentation <- function(rotation_range = 0,
                         width_shift_range = 0,
                         height_shift_range = 0,
                         shear_range = 0,
                         zoom_range = 0,
                         horizontal_flip = FALSE,
                         fill_mode = "reflect",
                         mixup = 0,
                         cutmix = 0) {
  call <- environment()
  settings <- lapply(mget(names(formals(augmentation)), envir = call), py_value)
  checked <- do.call(py_call, c(list(pykd()$Augmentation), settings,
                                list(.call = call)))
  structure(checked$to_dict(), class = "rkd_augmentation")
}

#' @export
format.rkd_augmentation <- function(x, ...) {
  x <- unclass(x)
  active <- x[vapply(x, function(v) !identical(v, 0) && !identical(v, FALSE),
                     logical(1))]
  active$fill_mode <- NULL
  if (length(active) == 0) {
    return("no augmentation")
  }
  parts <- vapply(names(active), function(name) {
    value <- active[[name]]
    shown <- if (is.logical(value)) "yes" else format(value)
    paste0(sub("_range$", "", name), " ", shown)
  }, character(1))
  paste0(paste(parts, collapse = ", "), " (fill ", x$fill_mode, ")")
}

#' @export
print.rkd_augmentation <- function(x, ...) {
  cli::cat_line("<rkd_augmentation>")
  labels <- c(
    rotation_range = "rotation (degrees)",
    width_shift_range = "width shift (fraction)",
    height_shift_range = "height shift (fraction)",
    shear_range = "shear (degrees)",
    zoom_range = "zoom (fraction)",
    horizontal_flip = "horizontal flip",
    fill_mode = "fill mode",
    mixup = "mixup",
    cutmix = "cutmix"
  )
  values <- vapply(names(labels), function(name) {
    value <- x[[name]]
    if (is.logical(value)) {
      if (value) "yes" else "no"
    } else {
      format(value)
    }
  }, character(1))
  cli::cat_line(format(paste0("  ", labels)), "  ", values)
  invisible(x)
}

# The augmentation as sent to Python: an augmentation() as a dict, a plain
# list as a dict of its settings, anything else as it is (pykd says what
# augment may be).
augment_arg <- function(augment) {
  if (inherits(augment, "rkd_augmentation")) {
    augment <- unclass(augment)
  }
  py_value(augment)
}
