"""Strategy rollouts: author an objective set, diff it against the version in force, preview it.

Modules: :mod:`.authoring` (reading an objective-set file, with line-numbered errors),
:mod:`.diff` (what changed between two versions), :mod:`.population` (reading the population
and reference data a preview plans with), :mod:`.preview` (gaps and plans before and after, for
every employee in scope, and the summary) and :mod:`.seats` (seats needed per course session).
"""
