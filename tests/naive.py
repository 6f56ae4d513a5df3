"""Plain-numpy references of the compiled kernels (slow, obviously correct)."""

import numpy as np
from scipy.special import log_softmax, logsumexp
from scipy.stats import norm


def top_k_keep(scores, top_k):
    """The experts kept by the top-K gate, row by row, by sorting each row's
    (score, index) pairs: largest score first, the lower index first on ties."""
    n, k = scores.shape
    keep = np.zeros((n, k), dtype=bool)
    for s in range(n):
        ranked = sorted(range(k), key=lambda i: (-scores[s, i], i))
        keep[s, ranked[:top_k]] = True
    return keep


def log_gate(Xt, gate, top_k=None):
    """Log gate weights: log-softmax over all experts (top_k None) or over each
    row's top-K set, -inf outside it."""
    scores = Xt @ gate.T
    if top_k is None:
        return log_softmax(scores, axis=1)
    keep = top_k_keep(scores, top_k)
    out = np.full(scores.shape, -np.inf)
    for s in range(scores.shape[0]):
        kept = scores[s, keep[s]]
        out[s, keep[s]] = kept - logsumexp(kept)
    return out


def e_step(Xt, y, w, gate, coef, var, resp_prev=None, top_k=None):
    """Reference of gmoe.kernels._em.e_step (returns resp as well, last)."""
    k, p = coef.shape
    log_pi = log_gate(Xt, gate, top_k)
    log_joint = log_pi + norm.logpdf(y[:, None], Xt @ coef.T, np.sqrt(var))
    lse = logsumexp(log_joint, axis=1)
    resp = np.exp(log_joint - lse[:, None])
    A = np.zeros((k, p, p))
    B = np.zeros((k, p))
    C = np.zeros(k)
    for i in range(k):
        wt = w * resp[:, i]
        A[i] = (Xt * wt[:, None]).T @ Xt
        B[i] = Xt.T @ (wt * y)
        C[i] = np.sum(wt * y * y)
    q, grad, info = gate_stats(Xt, w, resp, gate, top_k)
    finite = np.where(np.isfinite(log_pi), log_pi, 0.0)
    q_prev = (np.nan if resp_prev is None
              else float(np.sum(w[:, None] * resp_prev * finite)))
    return float(w @ lse), A, B, C, q, grad, info, q_prev, resp


def gate_stats(Xt, w, resp, gate, top_k=None):
    """Reference of gmoe.kernels._em.gate_stats (with top_k: the statistics of the
    gate objective with each sample's top-K set fixed, masked experts left out)."""
    k, p = gate.shape
    log_pi = log_gate(Xt, gate, top_k)
    pi = np.exp(log_pi)
    q = float(np.sum(w[:, None] * resp * np.where(np.isfinite(log_pi), log_pi, 0.0)))
    grad = ((resp - pi) * w[:, None]).T @ Xt
    info = np.zeros((k, k, p, p))
    for i in range(k):
        for j in range(k):
            h = w * pi[:, i] * ((i == j) - pi[:, j])
            info[i, j] = (Xt * h[:, None]).T @ Xt
    return q, grad, info


def gate_objective(Xt, w, resp, gate):
    """Q(beta) = sum_n w_n sum_i tau_ni log pi_i(x_n; beta)."""
    return gate_stats(Xt, w, resp, gate)[0]


def loglik(Xt, y, w, gate, coef, var, top_k=None):
    """Weighted conditional log-likelihood."""
    log_pi = log_gate(Xt, gate, top_k)
    log_joint = log_pi + norm.logpdf(y[:, None], Xt @ coef.T, np.sqrt(var))
    return float(w @ logsumexp(log_joint, axis=1))


def loglik_hessian(Xt, y, w, gate, coef, var, top_k=None):
    """Reference of gmoe.kernels._hessian.loglik_hessian, sample by sample.

    Per expert the block (gate row, expert row, log-variance); the per-sample
    gradient is sum_i tau_i g_i - sum_i pi_i e_i and the Hessian is built from its
    definition as the Hessian of log sum_i exp(h_i) - log sum_i exp(eta_i).
    With top_k, both sums run over each sample's top-K set (held fixed).
    """
    n, p = Xt.shape
    k = coef.shape[0]
    q = 2 * p + 1
    log_pi = log_gate(Xt, gate, top_k)
    pi = np.exp(log_pi)
    res = y[:, None] - Xt @ coef.T
    log_joint = log_pi + norm.logpdf(y[:, None], Xt @ coef.T, np.sqrt(var))
    tau = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    grad = np.zeros(k * q)
    hess = np.zeros((k * q, k * q))
    for s in range(n):
        x = Xt[s]
        g = np.zeros((k, k * q))       # gradient of h_i
        e = np.zeros((k, k * q))       # gradient of eta_i
        hh = np.zeros((k, k * q, k * q))  # Hessian of h_i
        for i in range(k):
            b = i * q
            r = res[s, i]
            g[i, b:b + p] = x
            g[i, b + p:b + 2 * p] = r / var[i] * x
            g[i, b + 2 * p] = 0.5 * (r * r / var[i] - 1)
            e[i, b:b + p] = x
            hh[i, b + p:b + 2 * p, b + p:b + 2 * p] = -np.outer(x, x) / var[i]
            hh[i, b + p:b + 2 * p, b + 2 * p] = -r / var[i] * x
            hh[i, b + 2 * p, b + p:b + 2 * p] = -r / var[i] * x
            hh[i, b + 2 * p, b + 2 * p] = -0.5 * r * r / var[i]
        t, pr = tau[s], pi[s]
        m = t @ g
        u = pr @ e
        grad += w[s] * (m - u)
        h = (np.einsum("i,iab->ab", t, hh) + np.einsum("i,ia,ib->ab", t, g, g)
             - np.outer(m, m) - np.einsum("i,ia,ib->ab", pr, e, e) + np.outer(u, u))
        hess += w[s] * h
    return loglik(Xt, y, w, gate, coef, var, top_k), grad, hess


def gate_scores(gate_name, Z, blocks, perturbation=0.1):
    """Scores s_i(z_n) of the gates of gmoe.gates, sample by sample and expert
    by expert, straight from their formulas (``blocks`` row i = theta_i)."""
    import math

    n, d = Z.shape
    k = blocks.shape[0]
    out = np.zeros((n, k))
    for s in range(n):
        z = [float(v) for v in Z[s]]
        for i in range(k):
            b = float(blocks[i, 0])
            w = [float(v) for v in blocks[i, 1:]]
            if gate_name == "constant":
                out[s, i] = b
            elif gate_name in ("softmax", "sigmoid", "top_k", "top_p"):
                # the sparse gates score as the softmax gate, then select
                eta = b + sum(w[j] * z[j] for j in range(d))
                out[s, i] = (math.log(1.0 / (1.0 + math.exp(-eta)))
                             if gate_name == "sigmoid" else eta)
            elif gate_name == "cosine":
                dot = sum(w[j] * z[j] for j in range(d))
                norm_z = math.sqrt(sum(v * v for v in z))
                norm_w = math.sqrt(sum(v * v for v in w))
                out[s, i] = (dot / ((norm_z + perturbation) * (norm_w + perturbation))
                             + b)
            elif gate_name == "laplace":
                out[s, i] = -math.sqrt(sum((w[j] - z[j]) ** 2 for j in range(d))) + b
            elif gate_name == "gaussian":
                # b + linear . z + sum over a <= c of quad_ac z_a z_c
                value = b + sum(w[j] * z[j] for j in range(d))
                position = d
                for a in range(d):
                    for c in range(a, d):
                        value += w[position] * z[a] * z[c]
                        position += 1
                out[s, i] = value
            else:
                raise ValueError(f"no naive scores for gate {gate_name!r}")
    return out


def top_p_keep(scores, p):
    """The experts the top-P gate keeps, row by row: experts by decreasing score
    (the lower index first on ties), each kept while the dense softmax weights
    of those before it add up to less than ``p``."""
    n, k = scores.shape
    keep = np.zeros((n, k), dtype=bool)
    for s in range(n):
        weights = np.exp(scores[s] - scores[s].max())
        weights /= weights.sum()
        before = 0.0
        for i in sorted(range(k), key=lambda i: (-scores[s, i], i)):
            if before < p:
                keep[s, i] = True
            before += weights[i]
    return keep


def laplace_kink_curvature(z, centres, bandwidth):
    """The second derivative the Laplace gate reports on one covariate with a
    bandwidth: ``-2 K_h(w_i - z_n)`` with the Gaussian kernel ``K_h``, sample by
    sample and expert by expert (``z`` (n,), ``centres`` (k,))."""
    import math

    out = np.zeros((len(z), len(centres)))
    for s, x in enumerate(z):
        for i, c in enumerate(centres):
            u = (float(c) - float(x)) / bandwidth
            out[s, i] = -2.0 * math.exp(-0.5 * u * u) / (bandwidth
                                                         * math.sqrt(2 * math.pi))
    return out


def gaussian_scores(X, weight, mean, covariance):
    """log pi_i + log N(x_n; c_i, Gamma_i), sample by sample, from the density's
    formula (determinant and inverse of each Gamma_i by numpy)."""
    import math

    n, d = X.shape
    k = len(weight)
    out = np.zeros((n, k))
    for i in range(k):
        inverse = np.linalg.inv(covariance[i])
        det = np.linalg.det(covariance[i])
        for s in range(n):
            diff = [float(X[s, a] - mean[i, a]) for a in range(d)]
            maha = sum(diff[a] * inverse[a, b] * diff[b]
                       for a in range(d) for b in range(d))
            out[s, i] = (math.log(weight[i]) - 0.5 * d * math.log(2 * math.pi)
                         - 0.5 * math.log(det) - 0.5 * maha)
    return out


def x_marginal(X, w, weight, mean, covariance):
    """The x-marginal term of the joint likelihood, sum_n w_n log sum_i pi_i
    N(x_n; c_i, Gamma_i) (weights normalised to sum to one)."""
    weight = np.asarray(weight, dtype=float) / np.sum(weight)
    return float(w @ logsumexp(gaussian_scores(X, weight, mean, covariance), axis=1))


def gaussian_feature_moments(mean, covariance, n_draws, rng):
    """Monte-Carlo mean and covariance of phi(x) = (1, x, x_a x_b for a <= b)
    under N(mean, covariance)."""
    x = rng.multivariate_normal(mean, covariance, size=n_draws)
    d = x.shape[1]
    columns = [np.ones(n_draws)] + [x[:, a] for a in range(d)]
    columns += [x[:, a] * x[:, b] for a in range(d) for b in range(a, d)]
    phi = np.column_stack(columns)
    return phi.mean(axis=0), np.cov(phi, rowvar=False, bias=True)


def balance_penalty(gate_name, Z, w, blocks, alpha, perturbation=0.1):
    """The load-balancing penalty ``alpha W KL(P || u)`` straight from its
    definition: gate weights from :func:`gate_scores`, loads ``P_i`` their
    weighted means, ``KL = sum_i P_i log(k P_i)``."""
    pi = np.exp(log_softmax(gate_scores(gate_name, Z, blocks, perturbation), axis=1))
    total = float(np.sum(w))
    P = (w @ pi) / total
    k = len(P)
    kl = sum(float(P[i] * np.log(k * P[i])) for i in range(k) if P[i] > 0)
    return alpha * total * kl


def shared_routed_loss(kind, shared, shared_true, routed, routed_true, t1=0.0,
                       r=None):
    """The shared-routed Voronoi losses D1-D4 of 2505.10860, loop by loop.

    Each part is a dict of arrays: ``weight`` (k,) as compared (already
    normalised or translated), ``coef`` (k, d), ``intercept`` (k,), ``var``
    (k,); routed parts also ``gate`` (k, d), compared after the translation
    ``t1`` of the true ones.  Cells by the L1 distance, ties to the lowest
    index; ``r`` maps a cell size M >= 2 to r(M) (default 4, 6 for M = 2, 3).
    """
    r = {2: 4.0, 3: 6.0} if r is None else r
    total = 0.0
    for part, fit, true in (("shared", shared, shared_true),
                            ("routed", routed, routed_true)):
        k, k0 = len(fit["weight"]), len(true["weight"])
        diffs = {}
        cells = []
        for i in range(k):
            best_j, best = None, np.inf
            for j in range(k0):
                dg = (np.asarray(fit["gate"][i]) - true["gate"][j] - t1
                      if part == "routed" else np.zeros(0))
                da = np.asarray(fit["coef"][i]) - true["coef"][j]
                db = fit["intercept"][i] - true["intercept"][j]
                ds = fit["var"][i] - true["var"][j]
                diffs[i, j] = (dg, da, db, ds)
                dist = np.sum(np.abs(dg)) + np.sum(np.abs(da)) + abs(db) + abs(ds)
                if dist < best:
                    best_j, best = j, dist
            cells.append(best_j)
        for j in range(k0):
            members = [i for i in range(k) if cells[i] == j]
            total += abs(sum(fit["weight"][i] for i in members) - true["weight"][j])
            M = len(members)
            for i in members:
                dg, da, db, ds = diffs[i, j]
                g, a = np.sqrt(np.sum(dg**2)), np.sqrt(np.sum(da**2))
                b, s = abs(db), abs(ds)
                if M == 1 or (kind == "D4" and part == "routed"):
                    term = g + a + b + s
                elif kind == "D1":
                    term = g**2 + a**2 + b**2 + s**2
                elif part == "shared":
                    term = a**2 + b ** r[M] + s ** (r[M] / 2)
                else:
                    term = g ** r[M] + a ** (r[M] / 2) + b ** r[M] + s ** (r[M] / 2)
                total += fit["weight"][i] * term
    return total


def group_log_weights(scores, group, mass):
    """log pi_i = log m_g(i) + s_i - logsumexp of the scores of i's group."""
    out = np.empty_like(scores, dtype=float)
    for g, m in enumerate(mass):
        cols = np.asarray(group) == g
        out[:, cols] = (np.log(m) + scores[:, cols]
                        - logsumexp(scores[:, cols], axis=1, keepdims=True))
    return out


def group_log_weight_jacobian(scores, group, mass):
    """d log pi_i / d s_j, shape (n, k, k): [g(i) = g(j)] (delta_ij - pi_j / m_g)."""
    n, k = scores.shape
    pi = np.exp(group_log_weights(scores, group, mass))
    jac = np.zeros((n, k, k))
    for i in range(k):
        for j in range(k):
            if group[i] == group[j]:
                jac[:, i, j] = float(i == j) - pi[:, j] / mass[group[j]]
    return jac


def shared_routed_density(x, y, c, omega, shared_rows, shared_var, gate_rows,
                          routed_rows, routed_var):
    """Eq. 1 of arXiv 2505.10860 with a softmax routed gate, d = 1: rows are
    (intercept, slope)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    shared = sum(w * norm.pdf(y, a + b * x, np.sqrt(v))
                 for w, (a, b), v in zip(omega, shared_rows, shared_var, strict=True))
    eta = np.column_stack([a + b * x for a, b in gate_rows])
    gate = np.exp(eta - logsumexp(eta, axis=1, keepdims=True))
    routed = sum(gate[:, i] * norm.pdf(y, a + b * x, np.sqrt(v))
                 for i, ((a, b), v) in enumerate(zip(routed_rows, routed_var,
                                                        strict=True)))
    return c * shared + (1 - c) * routed


def grouped_loglik_hessian(S, D1, D2, group, mass, Xt, y, w, coef, var):
    """Reference of gmoe.kernels._grouped.grouped_loglik_hessian: the covariance
    of the derivatives J_i of u_i = log pi_i + log N_i under tau (J_i over every
    expert's parameters, from the Jacobian of the grouped log-weights) plus
    sum_i tau_i d^2 u_i; blocks (gate block, expert row, log-variance)."""
    n, k, m = D1.shape
    p = Xt.shape[1]
    q = m + p + 1
    log_pi = group_log_weights(S, group, mass)
    within = np.exp(log_pi) / np.asarray(mass)[group]
    resid = y[:, None] - Xt @ coef.T
    u = log_pi + norm.logpdf(y[:, None], Xt @ coef.T, np.sqrt(var))
    lse = logsumexp(u, axis=1)
    tau = np.exp(u - lse[:, None])
    same = group[:, None] == group[None, :]
    # J[n, i, j]: the derivative of u_ni over expert j's parameters
    J = np.zeros((n, k, k, q))
    J[:, :, :, :m] = -(same[None, :, :, None] * (within[:, None, :, None]
                                                 * D1[:, None, :, :]))
    idx = np.arange(k)
    J[:, idx, idx, :m] += D1
    z = resid / var
    J[:, idx, idx, m:m + p] = z[:, :, None] * Xt[:, None, :]
    J[:, idx, idx, q - 1] = 0.5 * (resid * z - 1.0)
    J = J.reshape(n, k, k * q)
    mean = np.matmul(tau[:, None, :], J)[:, 0]
    grad = w @ mean
    wt = w[:, None] * tau
    flat = J.reshape(n * k, k * q)
    hess = ((flat.T * wt.ravel()) @ flat
            - (mean.T * w) @ mean).reshape(k, q, k, q)
    # sum_i tau_i d^2 u_i: the experts' own second derivatives
    for i in range(k):
        hess[i, m:m + p, i, m:m + p] -= (Xt.T * wt[:, i]) @ Xt / var[i]
        cross = (wt[:, i] * z[:, i]) @ Xt
        hess[i, m:m + p, i, q - 1] -= cross
        hess[i, q - 1, i, m:m + p] -= cross
        hess[i, q - 1, i, q - 1] -= 0.5 * float(wt[:, i] @ (resid[:, i] * z[:, i]))
    # the scores' curvature tau_i D2_i, and minus T_g times that of each
    # group's log-normaliser
    totals = np.column_stack([tau[:, group == group[i]].sum(axis=1)
                              for i in range(k)])
    wT = w[:, None] * totals * within
    if D2 is not None:
        for i in range(k):
            hess[i, :m, i, :m] += np.einsum("n,nab->ab", wt[:, i] - wT[:, i],
                                            D2[:, i])
    for i in range(k):
        hess[i, :m, i, :m] -= (D1[:, i].T * wT[:, i]) @ D1[:, i]
        for j in range(k):
            if same[i, j]:
                hess[i, :m, j, :m] += (D1[:, i].T * (wT[:, i] * within[:, j])) \
                    @ D1[:, j]
    return float(w @ lse), grad.reshape(k, q), hess
