# Common coefficients across experts in R flexmix (FLXMRglmfix), for
# benchmarks/bench_glmfix.py.
#
# Usage:
#   Rscript flexmix_glmfix.R DATA.csv OUT.json VARFIX
#
# DATA.csv has the columns x1, x2, y, p1, .., pk: the expert's own covariate
# x1, the covariate x2 whose coefficient is common to the experts, the
# response and the responsibilities of gmoe's fit (k columns).  flexmix starts
# from them (cluster =), so that both tools sit at the same maximum.  The model
#   flexmix(y ~ x1, k = k, model = FLXMRglmfix(fixed = ~ x2, varFix = VARFIX))
# has flexmix's default concomitant model FLXPconstant (constant priors),
# minprior = 0 (no component removed); then refit(fit): the log-likelihood is
# re-maximised by optim from the EM solution and the covariance is the
# inverse of optim's numerical Hessian.
#
# refit's parameters, in order: the common coefficient(s), each component's
# (Intercept) and x1, the log(sigma)s (one with VARFIX = 1; sigma a standard
# deviation), the concomitant alphas log(prior_j / prior_1), j = 2..k.  Their
# names repeat across components, so OUT.json holds them as arrays in that
# order ("refit": names, estimate, se), with flexmix's EM log-likelihood,
# iterations and parameters(fit) (the EM solution; sigma per component).

suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 3) stop("usage: Rscript flexmix_glmfix.R DATA.csv OUT.json VARFIX")
data <- read.csv(args[1])
var_fix <- as.integer(args[3]) == 1
columns <- grep("^p[0-9]+$", names(data), value = TRUE)
k <- length(columns)
posterior <- as.matrix(data[, columns])
fit <- flexmix(y ~ x1, data = data, k = k, cluster = posterior,
               model = FLXMRglmfix(fixed = ~ x2, varFix = var_fix),
               control = list(minprior = 0, tolerance = 1e-12, iter.max = 20000))
if (fit@k != k) stop("flexmix dropped a component")
ref <- refit(fit)
em <- parameters(fit)
out <- list(
  loglik = as.numeric(logLik(fit)), iter = fit@iter, converged = fit@converged,
  em = list(rows = rownames(em), values = unname(split(em, col(em)))),
  prior = as.numeric(prior(fit)),
  refit = list(names = names(ref@coef), estimate = unname(ref@coef),
               se = unname(sqrt(diag(ref@vcov)))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), args[2])
