"""The application layer the four handlers call: commands, their execution, the reconcile tick,
event automation, the runtime, fan-out invokers and the audit trail.

May import ``ciqueue.envelopes``, ``ciqueue.state``, ``ciqueue.schedule``, ``ciqueue.ci`` and the
foundation; never ``ciqueue.api``, ``ciqueue.cli.main``, ``ciqueue.dev``, ``ciqueue.deploy`` or the emulator.
This face holds no logic.
"""
