"""Custom search attributes: registered by the dev stack, kept current by the workflows.

HR ops can ask Temporal directly, e.g. ``temporal workflow list --query 'OverdueCount > 0'``
or ``--query "Department = 'Finance' AND PlanState = 'awaiting_approval'"``.
"""

from temporalio.common import SearchAttributeKey

EMPLOYEE_ID = SearchAttributeKey.for_keyword("EmployeeId")
DEPARTMENT = SearchAttributeKey.for_keyword("Department")
ROLE = SearchAttributeKey.for_keyword("Role")
PLAN_STATE = SearchAttributeKey.for_keyword("PlanState")
OVERDUE_COUNT = SearchAttributeKey.for_int("OverdueCount")
OBJECTIVE_VERSION = SearchAttributeKey.for_keyword("ObjectiveVersion")
OBJECTIVE_SET = SearchAttributeKey.for_keyword("ObjectiveSet")

ALL = (EMPLOYEE_ID, DEPARTMENT, ROLE, PLAN_STATE, OVERDUE_COUNT, OBJECTIVE_VERSION, OBJECTIVE_SET)
"""Every key, for `temporal server start-dev --search-attribute NAME=TYPE`."""
