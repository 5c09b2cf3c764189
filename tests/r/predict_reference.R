# Reference results of predict() and cumul() on the BCG vaccine data (metafor 3.8).
#
# Usage (from the repository's top folder):
#   Rscript tests/r/predict_reference.R > tests/data/metafor/bcg_vaccine_predict.json
#
# Reads tests/data/metafor/bcg_vaccine.csv (yi = log risk ratio, vi; moderators `ablat`,
# absolute latitude, and `alloc`, the method of allocation) and writes, for each case named
# below, metafor's columns. tests/test_predict.py and tests/test_cumulative.py call our side
# with the same settings. Iterations converge tightly, so differences are ours.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})

dat <- read.csv("tests/data/metafor/bcg_vaccine.csv", stringsAsFactors = FALSE)
ctl <- list(threshold = 1e-12, maxiter = 1000, tol = 1e-12)
fit <- function(method, test, mods = ~ 1)
  rma(yi, vi, mods = mods, data = dat, method = method, test = test, control = ctl)
columns <- function(p, names) {
  out <- lapply(names, function(n) if (is.null(p[[n]])) NULL else as.numeric(p[[n]]))
  names(out) <- gsub(".", "_", names, fixed = TRUE)
  out[!vapply(out, is.null, logical(1))]
}
pred_cols <- c("pred", "se", "ci.lb", "ci.ub", "pi.lb", "pi.ub")
cumul_cols <- c("estimate", "se", "zval", "tval", "pvals", "ci.lb", "ci.ub", "Q", "Qp", "tau2", "I2", "H2")

predict_cases <- list()
cumul_cases <- list()
for (test in c("z", "knha")) {
  for (method in c("EE", "DL", "HE", "SJ", "ML", "REML", "EB", "PM")) {
    r <- fit(method, test)
    predict_cases[[paste("pooled", method, test, sep = "|")]] <- columns(predict(r), pred_cols)
    predict_cases[[paste("pooled", method, test, "exp", sep = "|")]] <- columns(predict(r, transf = exp), pred_cols)
    cumul_cases[[paste(method, test, "year", sep = "|")]] <- columns(cumul(r, order = year), cumul_cols)
    cumul_cases[[paste(method, test, "year", sep = "|")]]$order <- order(dat$year) - 1
  }
  # a continuous and a categorical moderator: new settings by value and level
  r <- fit("REML", test, ~ ablat + factor(alloc))
  newmods <- cbind(ablat = c(10, 30, 50, 30), random = c(0, 1, 0, 1), systematic = c(0, 0, 1, 0))
  predict_cases[[paste("ablat+alloc", "REML", test, sep = "|")]] <- columns(predict(r, newmods = newmods), pred_cols)
  predict_cases[[paste("ablat+alloc", "REML", test, "exp", sep = "|")]] <-
    columns(predict(r, newmods = newmods, transf = exp), pred_cols)
  predict_cases[[paste("ablat+alloc", "REML", test, "fitted", sep = "|")]] <- columns(predict(r), pred_cols)
  r <- fit("DL", test, ~ ablat)
  predict_cases[[paste("ablat", "DL", test, "level90", sep = "|")]] <-
    columns(predict(r, newmods = c(10, 30, 50), level = 90), pred_cols)
  r <- fit("EE", test, ~ ablat)
  predict_cases[[paste("ablat", "EE", test, sep = "|")]] <- columns(predict(r, newmods = c(10, 30, 50)), pred_cols)
}
r <- fit("REML", "z")
cumul_cases[["REML|z|ablat|exp"]] <- columns(cumul(r, order = ablat, transf = exp), cumul_cols)
cumul_cases[["REML|z|ablat|exp"]]$order <- order(dat$ablat) - 1

cat(toJSON(list(metafor = as.character(packageVersion("metafor")),
                newmods = list(ablat = c(10, 30, 50, 30), alloc = c("alternate", "random", "systematic", "random")),
                predict = predict_cases, cumul = cumul_cases),
           digits = I(17), auto_unbox = FALSE, na = "null", pretty = TRUE))
