# predict() and cumul() on a batch of random data sets (tests/test_metafor_live_predict.py writes them).
#
# Usage: Rscript tests/r/predict.R in.csv out.csv
#
# in.csv: one row per study (`role` = "study": yi, vi, moderators x (continuous) and g
#   (categorical), `ord` (the cumulative order's sort key, with ties)) or per new setting
#   (`role` = "new": x, g), with the set's `set, method, test, mods, transf, level` on every row.
# out.csv: `set, quantity, index, value` (17 significant digits), one row per number.
#
# Only base R and metafor. Fisher scoring to a change in tau^2 below 1e-12 within 1000 steps and
# uniroot (PM, ll0check) to 1e-12, so that differences are the formulas', not the stopping's.
suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
rows <- read.csv(args[1], stringsAsFactors = FALSE, na.strings = c("", "NA"))
ctl <- list(threshold = 1e-12, maxiter = 1000, tol = 1e-12)

source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), "oracle.R"))
# Fisher scoring can oscillate (metafor stops: "did not converge"); its documented remedy is a
# smaller step, which then converges to the same tight threshold
fit_rma <- function(dat, spec, mods = ~ 1) {
  r <- attempt(rma(yi, vi, mods = mods, data = dat, method = spec$method, test = spec$test,
                   level = spec$level, control = ctl))
  if (is.null(r))
    r <- attempt(rma(yi, vi, mods = mods, data = dat, method = spec$method, test = spec$test,
                     level = spec$level, control = c(ctl, stepadj = 0.5)))
  r
}
emit_prediction <- function(set, prefix, p) {
  for (col in c("pred", "se", "ci.lb", "ci.ub", "pi.lb", "pi.ub"))
    emit(set, paste0(prefix, col), if (is.null(p[[col]])) rep(NA, length(p$pred)) else p[[col]])
}

fit_set <- function(d) {
  out <<- list()
  set_id <- d$set[1]
  spec <- d[1, ]
  transf <- if (spec$transf == "exp") exp else FALSE
  dat <- d[d$role == "study", c("yi", "vi", "x", "g", "ord")]
  new <- d[d$role == "new", c("x", "g")]
  if (spec$mods == "none") {
    r <- fit_rma(dat, spec)
    if (is.null(r)) return(do.call(rbind, out))
    emit_prediction(set_id, "pred.", predict(r, transf = transf))
    cu <- attempt(cumul(r, order = dat$ord, transf = transf))
    if (!is.null(cu) && anyNA(cu$estimate)) {  # a refit that oscillated: metafor's remedy
      r$control <- c(ctl, stepadj = 0.5)
      cu <- attempt(cumul(r, order = dat$ord, transf = transf))
    }
    if (!is.null(cu)) {
      if (is.null(cu$zval)) cu$zval <- cu$tval  # named tval under knha
      for (col in c("estimate", "se", "zval", "pvals", "ci.lb", "ci.ub", "Q", "Qp", "tau2", "I2", "H2"))
        emit(set_id, paste0("cumul.", col), if (is.null(cu[[col]])) rep(NA, length(cu$estimate)) else cu[[col]])
    }
    return(do.call(rbind, out))
  }
  mods <- switch(spec$mods, x = ~ x, g = ~ factor(g), `x+g` = ~ x + factor(g))
  r <- fit_rma(dat, spec, mods)
  if (is.null(r)) return(do.call(rbind, out))
  levels_g <- levels(factor(dat$g))
  dummies <- sapply(levels_g[-1], function(level) as.numeric(new$g == level))
  dummies <- matrix(dummies, nrow = nrow(new))
  newmods <- switch(spec$mods, x = new$x, g = dummies, `x+g` = cbind(new$x, dummies))
  emit_prediction(set_id, "new.", predict(r, newmods = newmods, transf = transf))
  emit_prediction(set_id, "fitted.", predict(r, transf = transf))
  do.call(rbind, out)
}

run_sets(rows, fit_set, args[2])
