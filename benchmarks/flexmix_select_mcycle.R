# flexmix's choice of the number of experts on mcycle (MASS), next to gmoe's
# (benchmarks/bench_select.py).
#
# For k = 1..8 this fits the softmax-gated Gaussian mixture of experts
#
#   stepFlexmix(accel ~ times, k = k, nrep = NREP, model = FLXMRglm(),
#               concomitant = FLXPmultinom(~ times), drop = FALSE,
#               control = list(minprior = 0, iter.max = ITER))
#
# (Gaussian linear experts in times, a multinomial-logit gate in times, no
# component dropped) after set.seed(SEED), and prints one CSV row per k: the
# number of components kept, logLik, BIC(), ICL(), AIC() and the seconds.
# flexmix's BIC() and ICL() are on the -2 logLik scale: smaller is better.
#
# Usage (from the repository root):
#   Rscript benchmarks/flexmix_select_mcycle.R [NREP] [ITER] [SEED] > out.csv
suppressPackageStartupMessages({
  library(flexmix)
  library(MASS)
})
args <- commandArgs(trailingOnly = TRUE)
nrep <- if (length(args) >= 1) as.integer(args[1]) else 5L
iter <- if (length(args) >= 2) as.integer(args[2]) else 500L
seed <- if (length(args) >= 3) as.integer(args[3]) else 1L
data(mcycle)
cat("k,k_kept,loglik,df,BIC,ICL,AIC,seconds,nrep,iter_max,seed\n")
for (k in 1:8) {
  set.seed(seed)
  tm <- system.time(
    st <- stepFlexmix(accel ~ times, data = mcycle, k = k, nrep = nrep,
                      model = FLXMRglm(), concomitant = FLXPmultinom(~ times),
                      drop = FALSE, verbose = FALSE,
                      control = list(minprior = 0, iter.max = iter))
  )
  fit <- if (is(st, "stepFlexmix")) st@models[[1]] else st
  ll <- logLik(fit)
  cat(sprintf("%d,%d,%.4f,%d,%.4f,%.4f,%.4f,%.2f,%d,%d,%d\n", k, fit@k,
              as.numeric(ll), attr(ll, "df"), BIC(fit), ICL(fit), AIC(fit),
              tm[["elapsed"]], nrep, iter, seed))
}
