# Fit a softmax-gated Gaussian mixture of experts with R flexmix and write the
# result as JSON, for the benchmarks and golden tests of gmoe.
#
# The model is flexmix(y ~ x1 + ... + xd, k = K,
#                      concomitant = FLXPmultinom(~ x1 + ... + xd))
# with minprior = 0, so that no expert is ever removed (k stays K).
#
# Usage:
#   Rscript flexmix_fit.R --data FILE --k K --out FILE.json
#       [--start START.csv] [--nrep N] [--seed S] [--tol T] [--iter-max M]
#
# --data      a CSV with columns x1, ..., xd, y (header line), or a ".bin" file:
#             float64 little-endian, first the two numbers (n, d + 1), then the
#             columns x1, ..., xd, y one after the other (column-major).
# --start     a CSV with one row per expert and the columns gate_intercept,
#             gate_coef_1..d, expert_intercept, expert_coef_1..d, expert_variance
#             (gmoe's parameters, original units).  flexmix then starts from the
#             responsibilities (posterior) at these parameters, so that its first
#             M-step is the one gmoe makes when started at the same parameters.
#             Without --start, flexmix draws random starts (stepFlexmix, --nrep).
# --nrep      number of random starts when no --start is given (default 1).
# --tol       flexmix's tolerance: EM stops when
#             |logLik - logLik_old| / (|logLik| + 0.1) < tol   (default 1e-6).
# --iter-max  maximum number of EM iterations (default 1000).
#
# The JSON holds the elapsed ("time") and CPU ("cpu_time": user + system) times of
# the fit only (system.time; data reading and preparation excluded), the number of iterations, convergence, flexmix's own
# logLik, the log-likelihood recomputed at the reported parameters, the
# log-likelihood with the maximum-likelihood variances (see below), and the fitted
# parameters in gmoe's convention: variances, gate with the LAST expert as
# reference.
#
# flexmix's Gaussian expert takes sigma^2 = (sum_n w_n r_n^2 / sum_n w_n) * n / (n - p)
# (p = d + 1), not the maximum-likelihood value: its logLik therefore sits slightly
# below the maximum.  "loglik_ml_variance" is the log-likelihood at the same
# parameters with sigma^2 * (n - p) / n.

suppressPackageStartupMessages(library(flexmix))

parse_args <- function(args) {
  opts <- list(data = NULL, k = NULL, out = NULL, start = NULL, nrep = 1,
               seed = 1, tol = 1e-6, iter_max = 1000)
  i <- 1
  while (i <= length(args)) {
    key <- sub("^--", "", args[i])
    key <- gsub("-", "_", key)
    if (!(key %in% names(opts)) || i == length(args)) {
      stop(sprintf("unknown or incomplete option '%s'", args[i]))
    }
    opts[[key]] <- args[i + 1]
    i <- i + 2
  }
  if (is.null(opts$data) || is.null(opts$k) || is.null(opts$out)) {
    stop("--data, --k and --out are required")
  }
  opts$k <- as.integer(opts$k)
  opts$nrep <- as.integer(opts$nrep)
  opts$seed <- as.integer(opts$seed)
  opts$tol <- as.numeric(opts$tol)
  opts$iter_max <- as.integer(opts$iter_max)
  opts
}

read_data <- function(path) {
  if (grepl("\\.bin$", path)) {
    con <- file(path, "rb")
    on.exit(close(con))
    shape <- readBin(con, "double", n = 2, size = 8, endian = "little")
    n <- as.integer(shape[1])
    ncol <- as.integer(shape[2])
    values <- readBin(con, "double", n = n * ncol, size = 8, endian = "little")
    data <- as.data.frame(matrix(values, nrow = n, ncol = ncol))
    names(data) <- c(paste0("x", seq_len(ncol - 1)), "y")
    return(data)
  }
  data <- read.csv(path)
  if (!("y" %in% names(data))) stop("the data file needs a column 'y'")
  data
}

# log-sum-exp of each row of a matrix
row_logsumexp <- function(m) {
  top <- apply(m, 1, max)
  top + log(rowSums(exp(m - top)))
}

# Log gate probabilities and expert log-densities at gmoe-style parameters.
log_joint <- function(X, y, params) {
  logits <- sweep(X %*% t(params$gate_coef), 2, params$gate_intercept, "+")
  log_gate <- logits - row_logsumexp(logits)
  means <- sweep(X %*% t(params$expert_coef), 2, params$expert_intercept, "+")
  sd <- sqrt(params$expert_variance)
  log_dens <- sapply(seq_along(sd), function(i) {
    dnorm(y, mean = means[, i], sd = sd[i], log = TRUE)
  })
  log_gate + matrix(log_dens, nrow = length(y))
}

read_start <- function(path, d) {
  s <- read.csv(path)
  list(
    gate_intercept = s$gate_intercept,
    gate_coef = as.matrix(s[, paste0("gate_coef_", seq_len(d)), drop = FALSE]),
    expert_intercept = s$expert_intercept,
    expert_coef = as.matrix(s[, paste0("expert_coef_", seq_len(d)), drop = FALSE]),
    expert_variance = s$expert_variance
  )
}

# flexmix's fitted parameters in gmoe's convention.
gmoe_params <- function(fit, d) {
  comp <- parameters(fit)
  gate <- parameters(fit, which = "concomitant")
  k <- ncol(comp)
  gate <- gate - gate[, k]  # last expert as reference
  list(
    gate_intercept = unname(gate[1, ]),
    gate_coef = unname(t(gate[-1, , drop = FALSE])),
    expert_intercept = unname(comp[1, ]),
    expert_coef = unname(t(comp[2:(d + 1), , drop = FALSE])),
    expert_variance = unname(comp["sigma", ]^2)
  )
}

# Shortest of 15 or 17 significant digits that reads back to the same double.
json_number <- function(v) {
  short <- sprintf("%.15g", v)
  text <- ifelse(as.numeric(short) == v, short, sprintf("%.17g", v))
  ifelse(is.finite(v), text, "null")
}

json_value <- function(v) {
  if (is.null(v)) return("null")
  if (is.list(v)) {
    items <- vapply(names(v), function(name) {
      sprintf("\"%s\": %s", name, json_value(v[[name]]))
    }, character(1))
    return(paste0("{", paste(items, collapse = ", "), "}"))
  }
  if (is.matrix(v)) {
    rows <- apply(v, 1, function(r) paste0("[", paste(json_number(r), collapse = ", "), "]"))
    return(paste0("[", paste(rows, collapse = ", "), "]"))
  }
  if (is.character(v)) return(sprintf("\"%s\"", v))
  if (is.logical(v)) return(ifelse(v, "true", "false"))
  if (length(v) == 1 && !inherits(v, "AsIs")) return(json_number(v))
  paste0("[", paste(json_number(v), collapse = ", "), "]")
}

main <- function() {
  opts <- parse_args(commandArgs(trailingOnly = TRUE))
  data <- read_data(opts$data)
  xnames <- setdiff(names(data), "y")
  d <- length(xnames)
  n <- nrow(data)
  X <- as.matrix(data[, xnames, drop = FALSE])
  rhs <- paste(xnames, collapse = " + ")
  model_formula <- as.formula(paste("y ~", rhs))
  gate_formula <- as.formula(paste("~", rhs))
  control <- list(minprior = 0, tolerance = opts$tol, iter.max = opts$iter_max)

  set.seed(opts$seed)
  if (!is.null(opts$start)) {
    start <- read_start(opts$start, d)
    lj <- log_joint(X, data$y, start)
    posterior <- exp(lj - row_logsumexp(lj))
    timing <- system.time(
      fit <- flexmix(model_formula, data = data, k = opts$k, cluster = posterior,
                     concomitant = FLXPmultinom(gate_formula), control = control)
    )
  } else {
    timing <- system.time(
      fit <- stepFlexmix(model_formula, data = data, k = opts$k, nrep = opts$nrep,
                         concomitant = FLXPmultinom(gate_formula),
                         control = control, verbose = FALSE)
    )
  }

  k_final <- ncol(parameters(fit))
  params <- gmoe_params(fit, d)
  loglik_recomputed <- sum(row_logsumexp(log_joint(X, data$y, params)))
  ml_params <- params
  ml_params$expert_variance <- params$expert_variance * (n - (d + 1)) / n
  loglik_ml_variance <- sum(row_logsumexp(log_joint(X, data$y, ml_params)))

  result <- list(
    tool = "flexmix",
    flexmix_version = as.character(packageVersion("flexmix")),
    r_version = R.version.string,
    n = n, d = d, k = opts$k, k_final = k_final,
    start = ifelse(is.null(opts$start), "random", "given"),
    nrep = ifelse(is.null(opts$start), opts$nrep, 1L),
    seed = opts$seed,
    tolerance = opts$tol, iter_max = opts$iter_max, minprior = 0,
    time = timing[["elapsed"]],
    cpu_time = timing[["user.self"]] + timing[["sys.self"]],
    iterations = fit@iter,
    converged = fit@converged,
    loglik = as.numeric(logLik(fit)),
    loglik_recomputed = loglik_recomputed,
    loglik_ml_variance = loglik_ml_variance,
    params = list(
      gate_intercept = I(params$gate_intercept),
      gate_coef = params$gate_coef,
      expert_intercept = I(params$expert_intercept),
      expert_coef = params$expert_coef,
      expert_variance = I(params$expert_variance)
    )
  )
  writeLines(json_value(result), opts$out)
}

main()
