# Reference results of Mantel-Haenszel and Peto pooling for the BCG vaccine trials
# (metadat's dat.bcg, tests/data/metafor/bcg_vaccine.csv), read by tests/test_mantel_haenszel.py.
#
# Usage (from the repository root): Rscript tests/r/mh_reference.R
# Writes tests/data/metafor/bcg_vaccine_mh.json. Only base R and metafor 3.8.
suppressPackageStartupMessages(library(metafor))

dat <- read.csv("tests/data/metafor/bcg_vaccine.csv")
quantities <- c("beta", "se", "zval", "pval", "ci.lb", "ci.ub", "QE", "QEp", "I2", "H2", "k", "k.yi",
                "k.pos", "CO", "COp", "MH", "MHp", "BD", "BDp", "TA", "TAp")
fits <- list(
  MH_OR = rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat, measure = "OR"),
  MH_RR = rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat, measure = "RR"),
  MH_RD = rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat, measure = "RD"),
  Peto_OR = rma.peto(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat)
)
number <- function(x) if (is.null(x) || is.na(x)) "null" else sprintf("%.17g", as.numeric(x))
entry <- function(name, r) {
  fields <- vapply(quantities, function(q) sprintf('"%s": %s', q, number(r[[q]])), character(1))
  sprintf('  "%s": {%s}', name, paste(fields, collapse = ", "))
}
json <- c("{", paste(mapply(entry, names(fits), fits), collapse = ",\n"),
          sprintf('  , "metafor_version": "%s"', as.character(packageVersion("metafor"))), "}")
writeLines(json, "tests/data/metafor/bcg_vaccine_mh.json")
