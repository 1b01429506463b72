"""Custom search attributes: registered by the dev stack, set by the workflows."""

from temporalio.common import SearchAttributeKey

EMPLOYEE_ID = SearchAttributeKey.for_keyword("TalentloopEmployeeId")
LEARNING_STATE = SearchAttributeKey.for_keyword("TalentloopLearningState")
OBJECTIVE_SET = SearchAttributeKey.for_keyword("TalentloopObjectiveSet")

ALL = (EMPLOYEE_ID, LEARNING_STATE, OBJECTIVE_SET)
"""Every key, for `temporal server start-dev --search-attribute NAME=Keyword`."""
