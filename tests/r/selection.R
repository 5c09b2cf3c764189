# Fit metafor's step-function selection model and PET/PEESE regressions on a batch of data sets
# (tests/test_metafor_live_selection.py writes them; tests/data/metafor/selection_reference.json
# was made by this script on the published data sets, see tests/test_selection.py).
#
# Usage: Rscript tests/r/selection.R in.csv out.csv [thorough]
#
# in.csv: one row per study: `set, method, alternative, steps, moderated, yi, vi, x` (`steps` as
#   "0.025" or "0.025;0.5"; `moderated` 1 when the model has the moderator `x`).
# out.csv: `set, quantity, index, value` (17 significant digits), one row per number; a set
#   metafor refuses gets the single quantity `error`: 1 when a p-value interval is empty, 2 otherwise.
#
# Convergence: the model without selection by Fisher scoring to 1e-12 (`threshold`); selmodel's
# optimiser `optim` (BFGS) with reltol = 1e-15 (its default 1e-8 stops ~1e-5 short). Where it still
# stops short, the Python side compares log-likelihoods (see tests/test_metafor_live_selection.py).
# `thorough` (the published reference) also runs Nelder-Mead with reltol = 1e-15 and keeps the fit
# with the higher log-likelihood: slower, and within ~1e-9 of the maximum.
suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
studies <- read.csv(args[1], stringsAsFactors = FALSE, na.strings = c("", "NA"))
ctl <- list(threshold = 1e-12, maxiter = 1000)
sel_ctls <- list(list(optmethod = "BFGS", reltol = 1e-15, maxit = 100000))
if (length(args) > 2 && args[3] == "thorough")
  sel_ctls[[2]] <- list(optmethod = "Nelder-Mead", reltol = 1e-15, maxit = 100000)
attempt <- function(expr) tryCatch(suppressWarnings(expr), error = function(e) NULL)

rows <- list()
emit <- function(set, quantity, values) {
  values <- as.numeric(values)
  rows[[length(rows) + 1]] <<- data.frame(set = set, quantity = quantity, index = seq_along(values) - 1L,
                                          value = values)
}

for (set in unique(studies$set)) {
  d <- studies[studies$set == set, ]
  steps <- as.numeric(strsplit(as.character(d$steps[1]), ";")[[1]])
  moderators <- if (isTRUE(d$moderated[1] == 1)) ~ x else ~ 1
  fit <- attempt(rma(yi, vi, mods = moderators, data = d, method = d$method[1], control = ctl))
  best <- NULL
  refused <- 2  # metafor failed for another reason (the model without selection, or the optimiser)
  if (!is.null(fit)) for (sc in sel_ctls) {
    s <- tryCatch(suppressWarnings(selmodel(fit, type = "stepfun", steps = steps,
                                            alternative = d$alternative[1], control = sc)),
                  error = function(e) conditionMessage(e))
    if (is.character(s)) {
      if (grepl("do not contain any observed p-values", s)) refused <- 1
    } else if (is.null(best) || s$ll > best$ll) best <- s
  }
  if (is.null(best)) { emit(set, "error", refused); next }
  emit(set, "beta", best$beta)
  emit(set, "se", best$se)
  emit(set, "zval", best$zval)
  emit(set, "pval", best$pval)
  emit(set, "ci.lb", best$ci.lb)
  emit(set, "ci.ub", best$ci.ub)
  emit(set, "tau2", best$tau2)
  emit(set, "se.tau2", best$se.tau2)
  emit(set, "delta", best$delta)
  emit(set, "se.delta", best$se.delta)
  emit(set, "LRT", best$LRT)
  emit(set, "LRTp", best$LRTp)
  emit(set, "ll", best$ll)
  emit(set, "ll0", best$ll0)
  emit(set, "k", best$k)
  # PET and PEESE: weighted least squares with weights 1/vi (Stanley & Doucouliagos 2014)
  d$sei <- sqrt(d$vi)
  for (reg in c("pet", "peese")) {
    m <- if (reg == "pet") lm(yi ~ sei, weights = 1 / vi, data = d) else lm(yi ~ vi, weights = 1 / vi, data = d)
    co <- summary(m)$coefficients
    emit(set, paste0(reg, ".estimate"), co[1, 1])
    emit(set, paste0(reg, ".se"), co[1, 2])
    emit(set, paste0(reg, ".pval"), co[1, 4])
    emit(set, paste0(reg, ".ci"), confint(m)[1, ])
  }
}
out <- do.call(rbind, rows)
out$value <- format(out$value, digits = 17, scientific = TRUE, trim = TRUE)
write.csv(out, args[2], row.names = FALSE, quote = FALSE)
