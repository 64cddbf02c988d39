#' The options an rkd function passes on to pykd
#'
#' Lists the options a function takes by their Python names, with their
#' defaults and what each does. Those that are not among the function's own
#' arguments go in its `...`. They are declared once, in the Python package
#' `pykd`; a misspelt one is refused with the name meant (`batchSize` ->
#' `batch_size`).
#'
#' @param fun The function, by name: `"distill"`, `"train_scratch"`,
#'   `"rkd_noisy_student"`, `"rkd_sweep"`, `"rkd_evaluate"`,
#'   `"rkd_predict"`, `"rkd_compare"`, `"teacher_logits"` or
#'   `"out_of_fold_logits"`.
#' @return A data frame with the columns `name`, `default` (as R code) and
#'   `description`.
#' @export
#' @examplesIf rkd_available()
#' \donttest{
#' rkd_options("train_scratch")[c("name", "default")]
#' }
rkd_options <- function(fun = "distill") {
  call <- environment()
  check_string(fun, "fun", call = call)
  columns <- py_call(pykd_module("run.options")$described, entry_name(fun), "r",
                     .call = call)
  as.data.frame(lapply(columns, unlist), stringsAsFactors = FALSE)
}

# pykd's name of an rkd function that takes options: rkd_sweep -> sweep.
entry_name <- function(fun) {
  sub("^rkd_", "", fun)
}

# The text of `...` in a function's help page: the pykd options it takes
# that are not its own arguments (`own`), from pykd's declaration. Run by
# roxygen when the documentation is built.
options_doc <- function(fun, own = character()) {
  options <- tryCatch(rkd_options(fun), error = function(e) NULL)
  intro <- "Further `pykd` options, by their Python names"
  if (is.null(options)) {
    return(paste0(intro, ": see [rkd_options()]."))
  }
  options <- options[!options$name %in% own, , drop = FALSE]
  # Python's words for R's, and square brackets escaped: roxygen's markdown
  # would read them as links.
  text <- gsub("\\bTrue\\b", "TRUE", options$description)
  text <- gsub("\\bFalse\\b", "FALSE", text)
  text <- gsub("\\bNone\\b", "NULL", text)
  text <- gsub("([][])", "\\\\\\1", text)
  items <- sprintf("* `%s` (default `%s`): %s", options$name,
                   options$default, text)
  paste0(intro, " (also listed by [rkd_options()]):\n\n",
         paste(items, collapse = "\n"))
}
