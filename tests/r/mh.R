# Fit a batch of random 2x2 data sets with metafor's rma.mh / rma.peto
# (tests/test_metafor_live_mh.py writes them).
#
# Usage: Rscript tests/r/mh.R in.csv out.csv
#
# in.csv: one row per table with the columns `set, method, measure, correct, add, to, ai, bi, ci, di`
#   (the settings the same on every row of a set; `method` is MH or Peto).
# out.csv: `set, quantity, index, value` (17 significant digits), one row per number.
#
# Only base R and metafor. rma.mh and rma.peto are closed forms: no iteration to converge.
suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
tables <- read.csv(args[1], stringsAsFactors = FALSE, na.strings = c("", "NA"))

source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), "oracle.R"))

quantities <- c("beta", "se", "zval", "pval", "ci.lb", "ci.ub", "QE", "QEp", "I2", "H2", "k", "k.yi",
                "k.pos", "CO", "COp", "MH", "MHp", "BD", "BDp", "TA", "TAp")

fit_set <- function(d) {
  spec <- d[1, ]
  r <- attempt(
    if (spec$method == "Peto") {
      rma.peto(ai = ai, bi = bi, ci = ci, di = di, data = d, add = spec$add, to = spec$to)
    } else {
      rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = d, measure = spec$measure, add = spec$add,
             to = spec$to, correct = as.logical(spec$correct))
    })
  if (is.null(r)) return(data.frame(set = spec$set, quantity = "error", index = 0L, value = 1))
  values <- lapply(quantities, function(q) if (is.null(r[[q]])) NA_real_ else as.numeric(r[[q]]))
  rows <- data.frame(set = spec$set, quantity = quantities, index = 0L, value = unlist(values))
  yi <- data.frame(set = spec$set, quantity = "yi", index = seq_along(r$yi.f) - 1L, value = as.numeric(r$yi.f))
  vi <- data.frame(set = spec$set, quantity = "vi", index = seq_along(r$vi.f) - 1L, value = as.numeric(r$vi.f))
  rbind(rows, yi, vi)
}

run_sets(tables, fit_set, args[2])
