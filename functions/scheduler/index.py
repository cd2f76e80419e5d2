"""The scheduler function's SCF entry point; its code is ``ciqueue.handlers.scheduler`` (in the layer)."""

from ciqueue.handlers.scheduler import TransientFailure, main_handler

__all__ = ["TransientFailure", "main_handler"]
