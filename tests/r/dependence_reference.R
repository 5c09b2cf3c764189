# Reference results for the dependent-effects analysis of a review (tests/test_dependence.py reads them).
#
# Usage (from the repository root): Rscript tests/r/dependence_reference.R [studies.csv out.json]
#
# Default input: reviews/implementation-strategies-illustrative/studies.csv (95 simulated effects
# in 48 studies; yi and vi as given); default output:
# tests/data/analysis/implementation_strategies_dependence.json with, for each
# `analysis.dependence` of synthesis.review:
#   che:        rma.mv(yi, V, random = ~ 1 | study_id/effect_id), V = impute_covariance_matrix(vi,
#               study_id, r = 0.6), with clubSandwich coef_test(vcov = "CR2") (Satterthwaite df),
#               predict(robust(fit, cluster, clubSandwich = TRUE)) for the prediction interval and
#               the multilevel I² of metafor's FAQ, and the predicted effect at each level of a
#               moderator from the same robust object; moderators `~ factor(scale)` (reference
#               research) and `~ factor(setting)` (reference primary care); subgroups `~ 0 + factor(scale)`;
#   multilevel: the same with V = vi (the three-level model);
#   aggregate:  rma(yi, vi, method = "REML", test = "knha") on aggregate(escalc, cluster = study_id,
#               rho = 0.6), the review's test.
# The optimiser is converged tightly (nlminb rel.tol = 1e-12) so that differences are ours.
suppressPackageStartupMessages({library(metafor); library(clubSandwich); library(jsonlite)})

args <- commandArgs(trailingOnly = TRUE)
src <- if (length(args) >= 1) args[1] else file.path("reviews", "implementation-strategies-illustrative",
                                                      "studies.csv")
dst <- if (length(args) >= 2) args[2] else file.path("tests", "data", "analysis",
                                                      "implementation_strategies_dependence.json")
rho <- 0.6
ctl <- list(rel.tol = 1e-12, iter.max = 10000, eval.max = 10000)
d <- read.csv(src, stringsAsFactors = FALSE)
d$scale <- relevel(factor(d$scale), ref = "research")
d$setting <- relevel(factor(d$setting), ref = "primary care")

fit_mv <- function(formula, V) {
  fit <- function(control) rma.mv(formula, V, random = ~ 1 | study_id/effect_id, data = d, method = "REML",
                                  control = control, sparse = TRUE)
  r <- tryCatch(fit(ctl), error = function(e) NULL)
  if (is.null(r)) r <- fit(modifyList(ctl, list(rel.tol = 1e-10)))
  r
}

multilevel_I2 <- function(r, V) {
  W <- solve(V)
  X <- model.matrix(r)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  100 * sum(r$sigma2) / (sum(r$sigma2) + (r$k - r$p) / sum(diag(P)))
}

describe <- function(r, V) {
  ct <- coef_test(r, vcov = "CR2", cluster = d$study_id, test = "Satterthwaite")
  ci <- conf_int(r, vcov = "CR2", cluster = d$study_id, test = "Satterthwaite")
  out <- list(coef_names = rownames(r$beta), k = r$k, n_studies = length(unique(d$study_id)),
              sigma2 = r$sigma2, beta = as.numeric(r$beta), se = ct$SE, df = ct$df_Satt, pval = ct$p_Satt,
              ci_lb = ci$CI_L, ci_ub = ci$CI_U, QM = r$QM, QMp = r$QMp, QE = r$QE,
              I2 = multilevel_I2(r, as.matrix(V)))
  if (r$p == 1) {
    pr <- predict(robust(r, cluster = d$study_id, clubSandwich = TRUE))
    out$pi_lb <- pr$pi.lb
    out$pi_ub <- pr$pi.ub
  } else if (rownames(r$beta)[1] == "intrcpt") {
    htz <- Wald_test(r, constraints = constrain_zero(2:r$p), vcov = "CR2", cluster = d$study_id, test = "HTZ")
    out$HTZ <- list(F = htz$Fstat, df_num = htz$df_num, df_denom = htz$df_denom, pval = htz$p_val)
    # the effect at each level (reference first), as the page's "where it works" shows it
    pr <- predict(robust(r, cluster = d$study_id, clubSandwich = TRUE), newmods = rbind(0, diag(r$p - 1)))
    out$predict <- list(pred = pr$pred, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub, df = pr$ddf)
  }
  out
}

V_che <- impute_covariance_matrix(d$vi, cluster = d$study_id, r = rho, return_list = FALSE)
structures <- list(che = V_che, multilevel = diag(d$vi))
result <- lapply(structures, function(V) list(
  pooled = describe(fit_mv(yi ~ 1, V), V),
  moderators = list(scale = describe(fit_mv(yi ~ scale, V), V),
                    setting = describe(fit_mv(yi ~ setting, V), V)),
  subgroups = describe(fit_mv(yi ~ 0 + scale, V), V)))
# the test for subgroup differences: HTZ on ~ scale (the same model as moderators$scale)

agg <- aggregate(escalc(yi = yi, vi = vi, data = d, measure = "GEN"), cluster = study_id, rho = rho)
a <- rma(yi, vi, data = agg, method = "REML", test = "knha", control = list(threshold = 1e-12, maxiter = 1000))
result$aggregate <- list(pooled = list(k = a$k, beta = as.numeric(a$beta), se = a$se, ci_lb = a$ci.lb,
                                       ci_ub = a$ci.ub, pval = a$pval, tau2 = a$tau2, I2 = a$I2,
                                       pi_lb = predict(a)$pi.lb, pi_ub = predict(a)$pi.ub))
write(toJSON(result, digits = NA, auto_unbox = TRUE, pretty = TRUE), dst)
