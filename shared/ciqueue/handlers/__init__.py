"""The four SCF handlers' bodies: scheduler, http_toggle, automation, worker.

Each module is one function's ``main_handler(event, context)``; ``functions/<name>/index.py``
re-exports it, so SCF's ``index.main_handler`` runs this code from the layer and an installed
package carries it too (``ciqueue invoke``, ``demo`` and ``local`` load it from here, anywhere).
May import the API, the application layer and below; only dev/ and cli/ import it. Shipped in the
SCF layer. This face holds no logic.
"""
