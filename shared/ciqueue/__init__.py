"""ciqueue: safe, scheduled and explained operations on Tencent Cloud Infinite (CI) queues.

The package keeps its top level free of heavy imports so that an SCF handler pays only for
what its path needs; import the concept modules directly (``ciqueue.ci.client``,
``ciqueue.ci.operations``, ``ciqueue.ci.models``).
"""

from __future__ import annotations

__version__ = "0.1.0"
