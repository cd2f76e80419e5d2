"""The wire to Cloud Infinite: identifiers, kinds, credentials, signing, XML, models, retries, the
client and the read-modify-write-verify operations.

Knows nothing of schedules, triggers, state or the HTTP API; imports only the foundation
(``ciqueue.constants``, ``ciqueue.limits``, ``ciqueue.errors``, ``ciqueue.timefmt``). This face holds no
logic: import the modules themselves.
"""
