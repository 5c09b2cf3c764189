# Fit a batch of random data sets with metafor (tests/test_metafor_live.py writes them).
#
# Usage: Rscript tests/r/differential.R in.csv out.csv
#
# in.csv: one row per study with the columns `set, measure, method, test, mods, diagnostics,
#   bias` (the same on every row of a set) and the raw data (`ai bi ci di n1i n2i m1i sd1i m2i
#   sd2i xi ni ri yi vi x g`, empty where a measure does not use them).
# out.csv: `set, quantity, index, value` (17 significant digits), one row per number.
#
# Only base R and metafor: the CI installs r-base-core and r-cran-metafor, nothing else.
# Iterations are converged tightly so that differences are the formulas', not the stopping's:
# Fisher scoring to a change in tau^2 below 1e-12 (`threshold`) within `maxiter` = 1000 steps,
# uniroot (PM estimator, ll0check margin, Q-profile bounds) to `tol` = 1e-12.
suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
studies <- read.csv(args[1], stringsAsFactors = FALSE, na.strings = c("", "NA"))
ctl <- list(threshold = 1e-12, maxiter = 1000, tol = 1e-12)
ci_ctl <- list(tol = 1e-12)

source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), "oracle.R"))
# Fisher scoring can oscillate for ever (metafor stops: "did not converge"); its documented
# remedy is a smaller step, which then converges to the same tight threshold
fit_rma <- function(dat, method, test, mods = ~ 1) {
  r <- attempt(rma(yi, vi, mods = mods, data = dat, method = method, test = test, control = ctl))
  if (is.null(r))
    r <- attempt(rma(yi, vi, mods = mods, data = dat, method = method, test = test,
                     control = c(ctl, stepadj = 0.5)))
  r
}

effect_sizes <- function(d, measure) {
  cols <- c("ai", "bi", "ci", "di", "n1i", "n2i", "m1i", "sd1i", "m2i", "sd2i", "xi", "ni", "ri")
  given <- cols[vapply(cols, function(cl) cl %in% names(d) && !all(is.na(d[[cl]])), logical(1))]
  if (measure == "GEN") return(data.frame(yi = d$yi, vi = d$vi))
  args <- c(list(measure = measure), as.list(d[given]))
  if (measure %in% c("OR", "RR")) args$drop00 <- TRUE  # our convention: double-zero studies left out
  es <- do.call(escalc, args)
  data.frame(yi = as.numeric(es$yi), vi = as.numeric(es$vi))
}

fit_stats <- function(set, prefix, r) {
  emit(set, paste0(prefix, "beta"), r$beta)
  emit(set, paste0(prefix, "se"), r$se)
  emit(set, paste0(prefix, "stat"), r$zval)
  emit(set, paste0(prefix, "pval"), r$pval)
  emit(set, paste0(prefix, "ci.lb"), r$ci.lb)
  emit(set, paste0(prefix, "ci.ub"), r$ci.ub)
  emit(set, paste0(prefix, "tau2"), r$tau2)
  emit(set, paste0(prefix, "I2"), r$I2)
  emit(set, paste0(prefix, "H2"), r$H2)
  emit(set, paste0(prefix, "QE"), r$QE)
  emit(set, paste0(prefix, "QEp"), r$QEp)
}

# the refits of influence and leave1out use the model's control; a refit that oscillates is
# redone with metafor's remedy (and rows whose refit cannot exist stay NA)
with_remedy <- function(r, diagnose, missing) {
  res <- attempt(diagnose(r))
  if (is.null(res) || anyNA(missing(res))) {
    r$control <- c(ctl, stepadj = 0.5)
    again <- attempt(diagnose(r))
    if (!is.null(again)) res <- again
  }
  res
}

case_diagnostics <- function(set, prefix, r) {
  inf <- with_remedy(r, influence, function(res) res$inf$tau2.del[res$inf$hat < 1 - 1e-8])
  if (!is.null(inf)) {
    for (col in c("rstudent", "dffits", "cook.d", "cov.r", "tau2.del", "QE.del", "hat", "weight"))
      emit(set, paste0(prefix, "inf.", col), inf$inf[[col]])
    for (j in seq_len(r$p)) emit(set, paste0(prefix, "inf.dfbs", j - 1), inf$dfbs[[j]])
    emit(set, paste0(prefix, "inf.is.infl"), !is.na(inf$is.infl) & inf$is.infl)
  }
  if (r$p == 1) {
    l1o <- with_remedy(r, leave1out, function(res) res$estimate)
    if (!is.null(l1o)) {
      if (is.null(l1o$zval)) l1o$zval <- l1o$tval  # named tval under knha
      for (col in c("estimate", "se", "zval", "pval", "ci.lb", "ci.ub", "Q", "Qp", "tau2", "I2", "H2"))
        emit(set, paste0("l1o.", col), l1o[[col]])
    }
  }
}

fit_set <- function(d) {
  out <<- list()
  set_id <- d$set[1]
  spec <- d[1, ]
  es <- attempt(effect_sizes(d, spec$measure))
  if (is.null(es)) return(NULL)
  if (spec$measure != "GEN") {
    emit(set_id, "yi", es$yi)
    emit(set_id, "vi", es$vi)
  }
  keep <- is.finite(es$yi) & is.finite(es$vi)
  dat <- data.frame(yi = es$yi, vi = es$vi, x = d$x, g = d$g)[keep, ]
  method <- spec$method
  test <- spec$test
  if (spec$mods == "none") {
    r <- fit_rma(dat, method, test)
    if (is.null(r)) return(do.call(rbind, out))
    fit_stats(set_id, "", r)
    pr <- predict(r)
    emit(set_id, "pi.lb", pr$pi.lb)
    emit(set_id, "pi.ub", pr$pi.ub)
    if (method != "EE" && r$k > 1) {
      ci <- attempt(confint(r, control = ci_ctl))
      if (!is.null(ci)) {
        emit(set_id, "ci.tau2", ci$random["tau^2", c("ci.lb", "ci.ub")])
        emit(set_id, "ci.I2", ci$random["I^2(%)", c("ci.lb", "ci.ub")])
        emit(set_id, "ci.H2", ci$random["H^2", c("ci.lb", "ci.ub")])
        emit(set_id, "ci.tau2.max", max(100, 10 * r$tau2))  # confint's default search limit
      }
    }
    if (spec$diagnostics == 1 && r$k > 1) case_diagnostics(set_id, "", r)
    if (spec$bias == 1 && r$k > 2) {
      eg <- attempt(regtest(r))
      if (!is.null(eg)) emit(set_id, "egger.rma", c(eg$zval, eg$pval, eg$est, eg$ci.lb, eg$ci.ub))
      eg <- attempt(regtest(r, model = "lm"))
      if (!is.null(eg)) emit(set_id, "egger.lm", c(eg$zval, eg$pval, eg$est, eg$ci.lb, eg$ci.ub))
      rk <- attempt(ranktest(r))
      if (!is.null(rk)) emit(set_id, "begg", c(rk$tau, rk$pval))
      tf <- attempt(trimfill(r, control = r$control))  # its internal fits: the same remedy
      if (is.null(tf)) tf <- attempt(trimfill(r, control = c(ctl, stepadj = 0.5)))
      if (!is.null(tf))
        emit(set_id, "trimfill", c(tf$k0, tf$side == "right", tf$beta, tf$se, tf$ci.lb, tf$ci.ub, tf$tau2))
    }
  } else {
    mods <- if (spec$mods == "x") ~ x else ~ x + factor(g)
    r <- fit_rma(dat, method, test, mods)
    if (is.null(r)) return(do.call(rbind, out))
    fit_stats(set_id, "reg.", r)
    emit(set_id, "reg.QM", r$QM)
    emit(set_id, "reg.QMp", r$QMp)
    emit(set_id, "reg.R2", if (is.null(r$R2)) NA else r$R2)
    if (spec$diagnostics == 1) case_diagnostics(set_id, "reg.", r)
  }
  do.call(rbind, out)
}

run_sets(studies, fit_set, args[2])
