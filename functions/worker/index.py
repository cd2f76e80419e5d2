"""The worker function's SCF entry point; its code is ``ciqueue.handlers.worker`` (in the layer)."""

from ciqueue.handlers.worker import TransientFailure, main_handler

__all__ = ["TransientFailure", "main_handler"]
