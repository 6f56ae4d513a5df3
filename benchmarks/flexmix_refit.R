# Standard errors of a two-expert softmax-gated MoE from R flexmix's refit(),
# for benchmarks/bench_inference.py (sub-command "flexmix").
#
# Usage:
#   Rscript flexmix_refit.R DATA.csv OUT.json
#
# DATA.csv has the columns x, y, p1, p2: one covariate, the response and the
# responsibilities of gmoe's fit; flexmix starts from them (cluster =), so that
# both tools sit at the same maximum.  The model is
#   flexmix(y ~ x, k = 2, concomitant = FLXPmultinom(~ x))
# with minprior = 0 (no expert removed), then refit(fit) (method "optim": the
# log-likelihood is re-maximised by optim from the EM solution and the
# covariance is the inverse of optim's numerical Hessian).  refit's parameters:
# per component the coefficients and log(sigma) (sigma a standard deviation),
# and the concomitant (gate) rows of components 2.. relative to component 1.
#
# OUT.json holds, per component, the estimates and standard errors of
# "(Intercept)", "x" and "sigma" (sigma's by the delta method from log(sigma)),
# the gate's estimates and standard errors, flexmix's EM log-likelihood and
# iteration count.

suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript flexmix_refit.R DATA.csv OUT.json")
data <- read.csv(args[1])
posterior <- as.matrix(data[, c("p1", "p2")])
fit <- flexmix(y ~ x, data = data, k = 2, cluster = posterior,
               concomitant = FLXPmultinom(~ x),
               control = list(minprior = 0, tolerance = 1e-10, iter.max = 5000))
if (fit@k != 2) stop("flexmix dropped a component")
ref <- refit(fit)
est <- ref@coef
se <- sqrt(diag(ref@vcov))
pick <- function(prefix) {
  names <- grep(prefix, names(est), fixed = TRUE, value = TRUE)
  list(estimate = as.list(setNames(est[names], sub(prefix, "", names, fixed = TRUE))),
       se = as.list(setNames(se[names], sub(prefix, "", names, fixed = TRUE))))
}
experts <- lapply(1:2, function(i) {
  part <- pick(sprintf("model.1_Comp.%d_", i))
  est_i <- list(`(Intercept)` = part$estimate[["coef.(Intercept)"]],
                x = part$estimate[["coef.x"]],
                sigma = exp(part$estimate[["log(sigma)"]]))
  se_i <- list(`(Intercept)` = part$se[["coef.(Intercept)"]],
               x = part$se[["coef.x"]],
               sigma = exp(part$estimate[["log(sigma)"]]) * part$se[["log(sigma)"]])
  list(estimate = est_i, se = se_i)
})
gate <- pick("concomitant_Comp.2.")
out <- list(experts = experts, gate = gate, loglik = as.numeric(logLik(fit)),
            iter = fit@iter, converged = fit@converged)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), args[2])
