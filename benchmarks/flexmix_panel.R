# R flexmix reference fits for the real-data panel (tests/data/panel/).
#
# For each case of benchmarks/panel_reference/cases.csv (data set, target,
# features, k, seed) this fits the softmax-gated Gaussian mixture of experts
#
#   stepFlexmix(target ~ features, k = K, nrep = 10, model = FLXMRglm(),
#               concomitant = FLXPmultinom(~ features),
#               control = list(minprior = 0, iter.max = 2000, tol = 1e-10))
#
# after set.seed(seed), and records flexmix's logLik, the number of components
# kept, the elapsed and CPU time of the stepFlexmix call (R start-up and data
# reading excluded), the logLik of each of the nrep starts, and the fitted
# parameters of the best start in gmoe's convention: gate with the LAST expert as
# reference (gate_intercept (k,), gate_coef (k, d)), expert_intercept (k,),
# expert_coef (k, d), expert_variance (k,) = sigma^2 (variances, original units).
#
# flexmix's Gaussian expert takes sigma^2 = weighted RSS / weight * n / (n - p)
# (p = d + 1), not the maximum-likelihood value, so its logLik sits slightly below
# the maximum of the likelihood near its answer.
#
# Usage (from the repository root):
#   Rscript benchmarks/flexmix_panel.R [--cases mcycle_k2,CO2data_k3] [--nrep 10]
#       [--out benchmarks/panel_reference/flexmix_reference.json]
# Writes the JSON (a list of cases) and, next to it, a CSV with one row per case.

suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
opts <- list(cases = NULL, nrep = "10",
             out = "benchmarks/panel_reference/flexmix_reference.json",
             case_file = "benchmarks/panel_reference/cases.csv",
             data_dir = "tests/data/panel")
i <- 1
while (i <= length(args)) {
  key <- gsub("-", "_", sub("^--", "", args[i]))
  if (!(key %in% c(names(opts), "cases")) || i == length(args)) {
    stop(sprintf("unknown or incomplete option '%s'", args[i]))
  }
  opts[[key]] <- args[i + 1]
  i <- i + 2
}
nrep <- as.integer(opts$nrep)

cases <- read.csv(opts$case_file, stringsAsFactors = FALSE)
if (!is.null(opts$cases)) {
  wanted <- strsplit(opts$cases, ",")[[1]]
  unknown <- setdiff(wanted, cases$case)
  if (length(unknown)) stop("unknown case(s): ", paste(unknown, collapse = ", "))
  cases <- cases[cases$case %in% wanted, ]
}

fit_case <- function(row) {
  data <- read.csv(file.path(opts$data_dir, paste0(row$dataset, ".csv")))
  features <- strsplit(row$features, "\\+")[[1]]
  d <- length(features)
  K <- as.integer(row$k)
  form <- as.formula(paste(row$target, "~", paste(features, collapse = " + ")))
  conc <- as.formula(paste("~", paste(features, collapse = " + ")))
  set.seed(row$seed)
  tm <- system.time(
    st <- stepFlexmix(form, data = data, k = K, nrep = nrep, model = FLXMRglm(),
                      concomitant = FLXPmultinom(conc), drop = FALSE,
                      control = list(minprior = 0, iter.max = 2000, tol = 1e-10),
                      verbose = FALSE)
  )
  fit <- st@models[[1]]
  k_kept <- fit@k
  ep <- parameters(fit)                       # rows coef.(Intercept), coef.<x>, sigma
  gp <- parameters(fit, which = "concomitant")  # rows (Intercept), <x>; first comp = 0
  gp <- gp - gp[, k_kept]                      # last expert as reference
  res <- list(
    case = row$case, dataset = row$dataset, target = row$target,
    features = I(features), k = K, seed = row$seed, nrep = nrep,
    n = nrow(data), k_kept = k_kept,
    loglik = as.numeric(logLik(fit)),
    rep_logliks = as.numeric(st@logLiks[1, ]),
    iterations = fit@iter, converged = fit@converged,
    seconds = unname(tm[["elapsed"]]),
    cpu_seconds = unname(tm[["user.self"]] + tm[["sys.self"]]),
    params = list(
      gate_intercept = unname(gp[1, ]),
      gate_coef = unname(t(gp[-1, , drop = FALSE])),
      expert_intercept = unname(ep[1, ]),
      expert_coef = unname(t(ep[1 + seq_len(d), , drop = FALSE])),
      expert_variance = unname(ep[nrow(ep), ]^2)
    ),
    flexmix_version = as.character(packageVersion("flexmix")),
    r_version = R.version.string
  )
  cat(sprintf("%-13s k=%d kept=%d logLik=%12.4f  iter=%4d  %.2f s\n", row$case,
              K, k_kept, res$loglik, res$iterations, res$seconds))
  res
}

results <- lapply(seq_len(nrow(cases)), function(j) fit_case(cases[j, ]))
writeLines(toJSON(results, auto_unbox = TRUE, digits = NA, pretty = TRUE,
                  matrix = "rowmajor"), opts$out)
flat <- do.call(rbind, lapply(results, function(r) data.frame(
  case = r$case, dataset = r$dataset, target = r$target,
  features = paste(r$features, collapse = "+"), k = r$k, n = r$n,
  k_kept = r$k_kept, loglik = r$loglik, best_rep_loglik = max(r$rep_logliks, na.rm = TRUE),
  failed_reps = sum(is.na(r$rep_logliks)), iterations = r$iterations,
  converged = r$converged, seconds = r$seconds, cpu_seconds = r$cpu_seconds)))
write.csv(flat, sub("\\.json$", ".csv", opts$out), row.names = FALSE)
