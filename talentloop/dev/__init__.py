"""Dev tooling: the embedded stack and what runs beside it in development and tests.

The SMTP sink, seed data, the demo, private test stacks, the contract generator and the O*NET
vendoring tool.
"""
