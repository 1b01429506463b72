"""Course selection for one employee: close every coverable gap at minimum hours or cost.

The problem is a weighted set cover with levels: each gap (skill, target) needs a chosen course
that teaches the skill up to the target; a course can start only once its prerequisites are
done (completed, enrolled, or earlier in the plan) and the learner has its starting levels,
which earlier courses may provide. The exact search (:mod:`.search`) branches on an open need
and on which course provides it (for a starting level: the first course to reach it), keeps the
provider graph acyclic so an order exists, and prunes with a fractional-cover lower bound. When
an hours budget makes covering everything impossible, a branch and bound (:mod:`.budget`)
maximises weighted gap closure within the budget instead. Both are exact; a node limit guards
pathological catalogs (the plan then says ``optimal=False``).

Most catalogs are ladders: single-skill courses without prerequisites, plus a few multi-skill
or prerequisite-bound ("special") courses. Those are solved first, and exactly, by shortest
paths on each skill's ladder with every ordered choice of the few special courses enumerated
(:mod:`.ladder`); where special courses are too many to enumerate, the MILP (:mod:`.milp`)
solves the part. The search is the reference (``method="exact"``).

Modules: :mod:`.catalog` (the catalog index), :mod:`.problem` (the problem model),
:mod:`.candidates` (the candidate courses), :mod:`.cover` (the cover, part by part),
:mod:`.search`, :mod:`.ladder`, :mod:`.milp`, :mod:`.budget` (the exact solvers),
:mod:`.explain` (the reasons), :mod:`.unionfind` and :mod:`.choose` (``choose_courses``).
"""

from activities.skills.selection.catalog import CatalogIndex
from activities.skills.selection.choose import DEFAULT_NODE_LIMIT, choose_courses
from activities.skills.selection.cover import FAST_MILP_SECONDS, FAST_NODE_LIMIT, Method
from activities.skills.selection.ladder import MAX_SPECIAL, Cost
from activities.skills.selection.problem import EPS, Need

__all__ = [
    "DEFAULT_NODE_LIMIT",
    "EPS",
    "FAST_MILP_SECONDS",
    "FAST_NODE_LIMIT",
    "MAX_SPECIAL",
    "CatalogIndex",
    "Cost",
    "Method",
    "Need",
    "choose_courses",
]
