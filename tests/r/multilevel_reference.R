# Reference results for several effects per study (tests/test_multilevel.py reads them).
#
# Usage (from the repository root): Rscript tests/r/multilevel_reference.R
#
# Writes tests/data/metafor/<name>.csv (the data exactly as analysed) and <name>.json (what
# metafor 3.8 `rma.mv` and clubSandwich `coef_test(vcov = "CR2")` compute on it) for
#   konstantopoulos2011_three_level: 56 effects (schools) in 11 districts, three-level model;
#   assink2016_che: 100 effects in 17 studies, CHE working model (rho = 0.6) and three-level.
# The optimiser is converged tightly (nlminb rel.tol = 1e-12) so that differences are ours.
suppressPackageStartupMessages({library(metafor); library(clubSandwich); library(metadat); library(jsonlite)})

ctl <- list(rel.tol = 1e-12, iter.max = 10000, eval.max = 10000)
out_dir <- file.path("tests", "data", "metafor")

# nlminb can stop with "false convergence" at rel.tol 1e-12 once it is at the optimum to
# machine precision: the same fit is then repeated at rel.tol 1e-10
fit_mv <- function(formula, V, random, data, method) {
  fit <- function(control) rma.mv(formula, V, random = random, data = data, method = method,
                                  control = control, sparse = TRUE)
  r <- tryCatch(fit(ctl), error = function(e) NULL)
  if (is.null(r)) r <- fit(modifyList(ctl, list(rel.tol = 1e-10)))
  r
}

describe <- function(r, cluster) {
  ct <- coef_test(r, vcov = "CR2", cluster = cluster, test = "Satterthwaite")
  ci <- conf_int(r, vcov = "CR2", cluster = cluster, test = "Satterthwaite")
  list(coef_names = rownames(r$beta), k = r$k, n_studies = length(unique(cluster)),
       sigma2 = r$sigma2, beta = as.numeric(r$beta), se = r$se, zval = r$zval, pval = r$pval,
       ci_lb = r$ci.lb, ci_ub = r$ci.ub, QE = r$QE, QEp = r$QEp, QM = r$QM, QMp = r$QMp,
       logLik = as.numeric(logLik(r)),
       CR2 = list(se = ct$SE, tval = ct$tstat, df = ct$df_Satt, pval = ct$p_Satt,
                  ci_lb = ci$CI_L, ci_ub = ci$CI_U))
}

# predictions (metafor's predict.rma): model-based, and under CR2 (robust(clubSandwich = TRUE),
# which takes clubSandwich::linear_contrast's SE and Satterthwaite df of each prediction)
predictions <- function(r, cluster, X_new = NULL) {
  m <- if (is.null(X_new)) predict(r) else predict(r, newmods = X_new)
  rb <- robust(r, cluster = cluster, clubSandwich = TRUE)
  c2 <- if (is.null(X_new)) predict(rb) else predict(rb, newmods = X_new)
  pick <- function(p) list(pred = p$pred, se = p$se, ci_lb = p$ci.lb, ci_ub = p$ci.ub, pi_lb = p$pi.lb,
                           pi_ub = p$pi.ub)
  list(newmods = if (is.null(X_new)) NULL else unname(as.matrix(X_new)), model = pick(m),
       CR2 = c(pick(c2), list(df = c2$ddf)))
}

# --- Konstantopoulos (2011): schools within districts -------------------------------------
konst <- dat.konstantopoulos2011[, c("district", "school", "study", "year", "yi", "vi")]
konst$year_c <- konst$year - 1990
write.csv(konst, file.path(out_dir, "konstantopoulos2011_three_level.csv"), row.names = FALSE)
k_fits <- list(
  "REML" = fit_mv(yi ~ 1, konst$vi, ~ 1 | district/school, konst, "REML"),
  "ML" = fit_mv(yi ~ 1, konst$vi, ~ 1 | district/school, konst, "ML"),
  "REML|year_c" = fit_mv(yi ~ year_c, konst$vi, ~ 1 | district/school, konst, "REML"))
k_out <- lapply(k_fits, describe, cluster = konst$district)
k_out[["REML"]]$predict <- predictions(k_fits[["REML"]], konst$district)
k_out[["REML|year_c"]]$predict <- predictions(k_fits[["REML|year_c"]], konst$district, cbind(c(-15, 0, 10)))
write(toJSON(k_out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
      file.path(out_dir, "konstantopoulos2011_three_level.json"))

# --- Assink et al. (2016): delinquency risk factors, several effects per study ------------
assink <- dat.assink2016[, c("study", "esid", "id", "yi", "vi", "pubstatus", "year", "deltype")]
write.csv(assink, file.path(out_dir, "assink2016_che.csv"), row.names = FALSE)
V <- impute_covariance_matrix(assink$vi, cluster = assink$study, r = 0.6, return_list = FALSE)
a_fits <- list(
  "che|REML" = fit_mv(yi ~ 1, V, ~ 1 | study/esid, assink, "REML"),
  "che|REML|deltype" = fit_mv(yi ~ factor(deltype), V, ~ 1 | study/esid, assink, "REML"),
  "multilevel|REML|year" = fit_mv(yi ~ year, assink$vi, ~ 1 | study/esid, assink, "REML"))
a_out <- lapply(a_fits, describe, cluster = assink$study)
a_out[["che|REML"]]$predict <- predictions(a_fits[["che|REML"]], assink$study)
n_dummies <- length(a_fits[["che|REML|deltype"]]$beta) - 1  # every level: the reference, then each dummy
htz <- Wald_test(a_fits[["che|REML|deltype"]], constraints = constrain_zero(2:3), vcov = "CR2",
                 cluster = assink$study, test = "HTZ")
a_out[["che|REML|deltype"]]$HTZ <- list(F = htz$Fstat, df_num = htz$df_num, df_denom = htz$df_denom,
                                        pval = htz$p_val)
a_out[["che|REML|deltype"]]$predict <- predictions(a_fits[["che|REML|deltype"]], assink$study,
                                                   rbind(0, diag(n_dummies)))
a_out[["multilevel|REML|year"]]$predict <- predictions(a_fits[["multilevel|REML|year"]], assink$study,
                                                       cbind(c(-10, 0, 5)))
write(toJSON(a_out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
      file.path(out_dir, "assink2016_che.json"))
