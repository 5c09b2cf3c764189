# What the batched differential scripts share (tests/r/{differential,predict,multilevel,mh}.R,
# each run once by tests/r_oracle.py as `Rscript <script> in.csv out.csv`). Sourced by:
#   source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), "oracle.R"))

# a failed fit is NULL: the Python side reports what metafor did not give
attempt <- function(expr) tryCatch(suppressWarnings(expr), error = function(e) NULL)

# the rows of the data set being fitted (fit_set starts with `out <<- list()`; each forked
# worker has its own copy)
out <- NULL
emit <- function(set, quantity, values) {
  values <- as.numeric(values)
  if (length(values) == 0) return(invisible())
  out[[length(out) + 1]] <<- data.frame(set = set, quantity = quantity, index = seq_along(values) - 1L,
                                        value = values)
}

# fit every set (split by `set`), the sets shared between the cores (forked workers; one on
# Windows), and write `set, quantity, index, value` with 17 significant digits
run_sets <- function(rows, fit_set, path) {
  cores <- if (.Platform$OS.type == "unix") min(2L, parallel::detectCores()) else 1L
  result <- do.call(rbind, parallel::mclapply(split(rows, rows$set), fit_set, mc.cores = cores))
  result$value <- sprintf("%.17g", result$value)
  write.csv(result, path, row.names = FALSE, quote = FALSE)
}
