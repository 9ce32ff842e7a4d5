"""Exact operating characteristics of rule-based designs, by enumerating their probability trees.

A second implementation, written as a procedure rather than as decisions on a patient list, shared
by the design tests and the engine tests.
"""

from math import comb, sqrt


def exact_three_plus_three(p, start=0, confirm=True, max_n=None):
    """Selection probabilities (index 0: no MTD, k + 1: level k), expected patients and DLTs per
    level, by enumerating every cohort outcome of the 3+3 written as a procedure. With `max_n`, a
    cohort that would pass it is cut to the patients left, and then the trial ends with the
    highest level its complete cohorts cleared (0/3 or <= 1/6) below the lowest level with >= 2
    DLTs (counting the cut cohort's)."""
    n_levels = len(p)
    select = [0.0] * (n_levels + 1)
    mean_n = [0.0] * n_levels
    mean_dlt = [0.0] * n_levels

    def finish(mtd, prob, n, d):
        select[0 if mtd is None else mtd + 1] += prob
        for k in range(n_levels):
            mean_n[k] += prob * n[k]
            mean_dlt[k] += prob * d[k]

    def cut_short(k, room, prob, n, d):
        for x in range(room + 1):
            toxic = [j for j in range(n_levels) if d[j] + (x if j == k else 0) >= 2]
            ceiling = min(toxic) if toxic else n_levels
            cleared = [
                j for j in range(ceiling) if (n[j] == 3 and d[j] == 0) or (n[j] == 6 and d[j] <= 1)
            ]
            n2, d2 = list(n), list(d)
            n2[k] += room
            d2[k] += x
            pr = prob * comb(room, x) * p[k] ** x * (1 - p[k]) ** (room - x)
            finish(max(cleared) if cleared else None, pr, n2, d2)

    def cohort(k, prob, n, d, then):
        if max_n is not None and sum(n) + 3 > max_n:
            cut_short(k, max_n - sum(n), prob, n, d)
            return
        for x in range(4):
            n2, d2 = list(n), list(d)
            n2[k] += 3
            d2[k] += x
            then(x, prob * comb(3, x) * p[k] ** x * (1 - p[k]) ** (3 - x), n2, d2)

    def declare(m, prob, n, d):
        if n[m] >= 6 or not confirm:
            finish(m, prob, n, d)
            return

        def confirmation(_, pr, n2, d2):
            if d2[m] <= 1:
                finish(m, pr, n2, d2)
            else:
                descend(m - 1, pr, n2, d2)

        cohort(m, prob, n, d, confirmation)

    def evaluate(k, prob, n, d, cleared, too_toxic):
        def first(x, pr, n2, d2):
            if x == 0:
                cleared(k, pr, n2, d2)
            elif x == 1:
                cohort(
                    k,
                    pr,
                    n2,
                    d2,
                    lambda y, pr3, n3, d3: (cleared if y == 0 else too_toxic)(k, pr3, n3, d3),
                )
            else:
                too_toxic(k, pr, n2, d2)

        cohort(k, prob, n, d, first)

    def toxic(k, prob, n, d):
        descend(k - 1, prob, n, d)

    def descend(m, prob, n, d):
        if m < 0:
            finish(None, prob, n, d)
        elif n[m] > 0:  # cleared on the way up
            declare(m, prob, n, d)
        else:
            evaluate(m, prob, n, d, declare, toxic)

    def escalate(k, prob, n, d):
        def cleared(level, pr, n2, d2):
            if level < n_levels - 1:
                escalate(level + 1, pr, n2, d2)
            else:
                declare(level, pr, n2, d2)

        evaluate(k, prob, n, d, cleared, toxic)

    escalate(start, 1.0, [0] * n_levels, [0] * n_levels)
    return select, mean_n, mean_dlt


def assert_matches_exact(chosen, n_per_level, select, mean_n):
    """Monte Carlo selection counts (`chosen[k]`, k = 0: no MTD) and patients per level
    (`n_per_level`, replicates x levels) against the exact figures, within 3 Monte Carlo SE."""
    reps = n_per_level.shape[0]
    for k, exact in enumerate(select):
        se = sqrt(exact * (1 - exact) / reps)
        assert abs(chosen[k] / reps - exact) <= 3 * se + 1e-12, ("selection", k, exact)
    se = n_per_level.std(axis=0, ddof=1) / sqrt(reps)
    for k, exact in enumerate(mean_n):
        assert abs(n_per_level[:, k].mean() - exact) <= 3 * se[k] + 1e-12, ("n", k, exact)
