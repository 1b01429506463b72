"""Helpers the tests share (``tests`` is on the path: ``from support.polling import eventually``).

- ``polling``: wait until a condition holds, async (``eventually``) or blocking (``wait_until``).
- ``events``: the events tests send: CloudEvents, reviews on the wire or as workflow input.
- ``delivery``: what reached the employee workflows: their state, what each handled, once, in
  order; the consumer group's committed offsets.
- ``cli``: the ``talentloop`` command line run in this process, or as a real process.
- ``temporal``: the time-skipping Temporal test server.
"""
