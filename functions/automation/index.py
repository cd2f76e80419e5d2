"""The automation function's SCF entry point; its code is ``ciqueue.handlers.automation`` (in the layer)."""

from ciqueue.handlers.automation import main_handler

__all__ = ["main_handler"]
