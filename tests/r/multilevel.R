# Fit a batch of random multi-effect data sets with metafor's rma.mv and clubSandwich's CR2
# (tests/test_metafor_live_multilevel.py writes them).
#
# Usage: Rscript tests/r/multilevel.R in.csv out.csv
#
# in.csv: one row per effect with `set, structure, rho, method, mods` (the same on every row of a
#   set) and `study, esid, yi, vi, x, g` (mods: none, x, or xg = ~ x + factor(g)).
# out.csv: `set, quantity, index, value`, one row per number (17 significant digits).
#
# Model: rma.mv(yi, V, mods, random = ~ 1 | study/esid) with V = vi (three-level)
# or clubSandwich::impute_covariance_matrix(vi, study, r = rho) (CHE), then
# clubSandwich::coef_test(fit, vcov = "CR2", cluster = study, test = "Satterthwaite"), with
# moderators the HTZ test of every moderator term (clubSandwich::Wald_test), and predictions
# (predict of robust(fit, cluster = study, clubSandwich = TRUE)) at fixed new rows.
# nlminb is told rel.tol = 1e-12; when it stops with an error at that tolerance ("false
# convergence" once at the optimum to machine precision) the fit is redone at 1e-10. Dense
# matrices: sparse = TRUE gives the same numbers (to round-off) and is 4x slower at k = 100.
suppressPackageStartupMessages({library(metafor); library(clubSandwich)})

args <- commandArgs(trailingOnly = TRUE)
effects <- read.csv(args[1], stringsAsFactors = FALSE)
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), "oracle.R"))
ctl <- list(rel.tol = 1e-12, iter.max = 10000, eval.max = 10000)

fit_set <- function(d) {
  out <- list()
  emit <- function(quantity, values) {
    values <- as.numeric(values)
    out[[length(out) + 1]] <<- data.frame(set = d$set[1], quantity = quantity,
                                          index = seq_along(values) - 1L, value = values)
  }
  V <- if (d$structure[1] == "che") {
    impute_covariance_matrix(d$vi, cluster = d$study, r = d$rho[1], return_list = FALSE)
  } else d$vi
  formula <- switch(d$mods[1], none = yi ~ 1, x = yi ~ x, xg = yi ~ x + factor(g))
  fit <- function(control) rma.mv(formula, V, random = ~ 1 | study/esid, data = d,
                                  method = d$method[1], control = control)
  r <- tryCatch(suppressWarnings(fit(ctl)), error = function(e) NULL)
  if (is.null(r)) r <- tryCatch(suppressWarnings(fit(modifyList(ctl, list(rel.tol = 1e-10)))),
                                error = function(e) NULL)
  if (is.null(r)) return(NULL)
  emit("sigma2", r$sigma2)
  emit("beta", r$beta)
  emit("se", r$se)
  emit("zval", r$zval)
  emit("pval", r$pval)
  emit("QE", r$QE)
  emit("QEp", r$QEp)
  emit("logLik", logLik(r))
  ct <- tryCatch(coef_test(r, vcov = "CR2", cluster = d$study, test = "Satterthwaite"),
                 error = function(e) NULL)
  if (!is.null(ct)) {
    emit("CR2.se", ct$SE)
    emit("CR2.tval", ct$tstat)
    emit("CR2.df", ct$df_Satt)
    emit("CR2.pval", ct$p_Satt)
  }
  if (r$p > 1) {
    htz <- tryCatch(Wald_test(r, constraints = constrain_zero(2:r$p), vcov = "CR2", cluster = d$study,
                              test = "HTZ"), error = function(e) NULL)
    if (!is.null(htz)) emit("HTZ", c(htz$Fstat, htz$df_denom, htz$p_val))
  }
  newmods <- switch(d$mods[1], none = NULL, x = cbind(c(-1, 0, 1)),
                    xg = rbind(c(0, 0, 0), c(1, 1, 0), c(-1, 0, 1)))
  pr <- tryCatch({
    rb <- robust(r, cluster = d$study, clubSandwich = TRUE)
    if (is.null(newmods)) predict(rb) else predict(rb, newmods = newmods)
  }, error = function(e) NULL)
  if (!is.null(pr)) {
    emit("pred", pr$pred)
    emit("pred.se", pr$se)
    emit("pred.df", pr$ddf)
    emit("pred.pi.lb", pr$pi.lb)
    emit("pred.pi.ub", pr$pi.ub)
  }
  do.call(rbind, out)
}

run_sets(effects, fit_set, args[2])
