"""The http_toggle function's SCF entry point; its code is ``ciqueue.handlers.http_toggle`` (in the layer)."""

from ciqueue.handlers.http_toggle import main_handler

__all__ = ["main_handler"]
