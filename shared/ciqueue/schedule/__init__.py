"""What the schedule wants, computed without I/O: cron, the config models, window occurrences, the
decision engine and the plan.

May import ``ciqueue.ci`` (identifiers, kinds) and the foundation. Nothing here reads the wall clock:
``now`` is always an argument. This face holds no logic.
"""
