"""The HTTP API of the http_toggle function: request and response shapes, authentication and the
routes.

May import the application layer (``ciqueue.app``) and everything below it. This face holds no logic.
"""
