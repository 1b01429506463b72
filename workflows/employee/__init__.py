"""The employee's learning workflow (`workflow`) and the pure rules it applies beside it."""

from workflows.employee.workflow import (
    IDLE_BEFORE_CONTINUE,
    EmployeeLearningWorkflow,
    workflow_id_for,
)

__all__ = ["IDLE_BEFORE_CONTINUE", "EmployeeLearningWorkflow", "workflow_id_for"]
