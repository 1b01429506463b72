"""The exact cover as a MILP (HiGHS), for parts too large for the search or the ladders."""

from __future__ import annotations

import time

import numpy as np

from activities.skills.selection.problem import EPS, Problem


def cover_milp(
    problem: Problem,
    rounds: int = 30,
    time_limit: float | None = None,
    total_seconds: float | None = None,
) -> list[int] | None:
    """Exact minimum-cost cover by MILP (HiGHS), for parts too large for the search.

    Starting levels are modelled as "some chosen course provides them"; a solution whose
    courses cannot all be ordered (a cycle) is cut off and the MILP solved again.

    Args:
        problem: The problem (its budget and node limit are not used).
        rounds: Most MILPs solved, each with the cuts of the ones before.
        time_limit: Seconds per MILP, if limited.
        total_seconds: Seconds for all the rounds together, if limited (past it: None, and the
            caller falls back to a feasible cover).

    Returns:
        The chosen candidate indices, or None when no proven optimum is reached in ``rounds``.

    """
    import highspy  # local: only large parts need it

    candidates = problem.candidates
    n = len(candidates)
    rows: list[tuple[list[int], list[float], float]] = []  # (cols, coefs, lower bound)
    for goal in problem.goals:
        rows.append((problem.providers(goal), [1.0] * len(problem.providers(goal)), 1.0))
    for i, c in enumerate(candidates):
        for p in c.prerequisites:
            rows.append(([p, i], [1.0, -1.0], 0.0))
        for need in c.entry_needs:
            providers = [p for p in problem.entry_providers(need) if p != i]
            rows.append(([*providers, i], [1.0] * len(providers) + [-1.0], 0.0))
    deadline = None if total_seconds is None else time.monotonic() + total_seconds
    for _ in range(rounds):
        limit = time_limit
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            limit = left if limit is None else min(limit, left)
        highs = highspy.Highs()  # type: ignore[no-untyped-call]
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("mip_rel_gap", 0.0)
        if limit is not None:
            highs.setOptionValue("time_limit", float(limit))
        inf = highspy.kHighsInf
        for _ in candidates:
            highs.addVar(0.0, 1.0)
        highs.changeColsCost(
            n,
            np.arange(n, dtype=np.int32),
            np.asarray([c.objective for c in candidates], dtype=np.float64),
        )
        highs.changeColsIntegrality(
            n, np.arange(n, dtype=np.int32), np.asarray([highspy.HighsVarType.kInteger] * n)
        )
        for cols, coefs, lower in rows:
            highs.addRow(
                lower,
                inf,
                len(cols),
                np.asarray(cols, dtype=np.int32),
                np.asarray(coefs, dtype=np.float64),
            )
        highs.run()
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        chosen = [i for i, v in enumerate(highs.getSolution().col_value) if v > 0.5]
        order, levels = problem.schedule(chosen)
        if len(order) == len(chosen):
            return chosen
        stuck = [i for i in chosen if i not in set(order)]
        outside = sorted(
            {
                p
                for i in stuck
                for need in candidates[i].entry_needs
                if levels.get(need[0], 0.0) < need[1] - EPS
                for p in problem.entry_providers(need)
                if p not in chosen
            }
        )
        rows.append(
            (
                [*stuck, *outside],
                [-1.0] * len(stuck) + [1.0] * len(outside),
                1.0 - len(stuck),
            )
        )
    return None
