"""Strategy rollouts: author an objective set, diff it, preview it, and roll it out.

Modules: :mod:`.authoring` (reading an objective-set file, with line-numbered errors),
:mod:`.diff` (what changed between two versions), :mod:`.population` (reading the population
and reference data a preview plans with), :mod:`.preview` (gaps and plans before and after, for
every employee in scope, and the summary), :mod:`.seats` (seats needed per course session),
:mod:`.approval` (the preview's figures for the rollout's approver), :mod:`.fanout` (the
rollout's activities: who is in scope, signalling them, their health, the reconciliation) and
:mod:`.applied` (the version each employee last applied).
"""
