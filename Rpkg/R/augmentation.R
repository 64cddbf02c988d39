#' Describe random image augmentation
#'
#' The augmentation settings of the old `keras::image_data_generator()`,
#' kept as a plain R object so it can be printed, saved and reused. Pass it
#' as `augment` to [distill()] or [train_scratch()]; it is sent to Python as
#' a dictionary of the same names. Only the training images are augmented.
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
#' @return An object of class `rkd_augmentation`: a named list.
#' @export
#' @examples
#' # The settings of the Cassava tutorial
#' aug <- augmentation(
#'   rotation_range = 40, width_shift_range = 0.2, height_shift_range = 0.2,
#'   shear_range = 0.2, zoom_range = 0.5, horizontal_flip = TRUE
#' )
#' aug
augmentation <- function(rotation_range = 0,
                         width_shift_range = 0,
                         height_shift_range = 0,
                         shear_range = 0,
                         zoom_range = 0,
                         horizontal_flip = FALSE,
                         fill_mode = "reflect") {
  call <- environment()
  ranges <- list(
    rotation_range = rotation_range,
    width_shift_range = width_shift_range,
    height_shift_range = height_shift_range,
    shear_range = shear_range,
    zoom_range = zoom_range
  )
  for (name in names(ranges)) {
    value <- ranges[[name]]
    check_number(value, name, call = call)
    if (value < 0) {
      abort_input(c(
        "x" = "{.arg {name}} must be 0 or more, not {value}.",
        "i" = "Ranges are symmetric: a range r draws from -r to r; use 0 to turn it off."
      ), call = call)
    }
  }
  fractions <- c("width_shift_range", "height_shift_range", "zoom_range")
  for (name in fractions) {
    value <- ranges[[name]]
    if (value >= 1) {
      abort_input(c(
        "x" = "{.arg {name}} must be a fraction below 1, not {value}.",
        "i" = "Use for example {.code {name} = 0.2} for up to 20%."
      ), call = call)
    }
  }
  check_flag(horizontal_flip, "horizontal_flip", call = call)
  modes <- c("reflect", "nearest", "constant", "wrap")
  if (!is.character(fill_mode) || length(fill_mode) != 1 ||
      !fill_mode %in% modes) {
    shown <- describe_value(fill_mode)
    abort_input(c(
      "x" = "{.arg fill_mode} must be one of {.val {modes}}, not {shown}.",
      "i" = "The default {.val reflect} mirrors the image at its edges."
    ), call = call)
  }
  out <- lapply(ranges, as.numeric)
  out$horizontal_flip <- horizontal_flip
  out$fill_mode <- fill_mode
  structure(out, class = "rkd_augmentation")
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
    fill_mode = "fill mode"
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

# The augmentation as sent to Python: NULL, or a dict of plain values.
as_py_augment <- function(augment, call = parent.frame()) {
  if (is.null(augment)) {
    return(NULL)
  }
  if (is.list(augment) && !inherits(augment, "rkd_augmentation")) {
    known <- names(formals(augmentation))
    unknown <- setdiff(names(augment), known)
    if (is.null(names(augment)) || length(unknown) > 0) {
      abort_input(c(
        "x" = "{.arg augment} has settings {.fn augmentation} does not know: {.val {unknown}}.",
        "i" = "Build it with {.fn augmentation}; its settings are {.val {known}}."
      ), call = call)
    }
    augment <- do.call(augmentation, augment)
  }
  if (!inherits(augment, "rkd_augmentation")) {
    shown <- describe_value(augment)
    abort_input(c(
      "x" = "{.arg augment} must be made by {.fn augmentation} or be {.code NULL}, not {shown}.",
      "i" = "For example {.code augment = augmentation(horizontal_flip = TRUE)}."
    ), call = call)
  }
  unclass(augment)
}
