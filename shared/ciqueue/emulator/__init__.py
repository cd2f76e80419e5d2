"""A local CI (Cloud Infinite) queue API emulator, split the moto way.

``models`` holds the state and rules, ``responses`` answers one CI action per method, ``routing``
maps Host and path to an action, ``faults`` injects failures, and ``server`` serves HTTP.
Start one with ``EmulatorServer`` (tests, demo) or ``ciqueue emulator`` (command line).
"""

from __future__ import annotations

__all__ = ["EmulatorServer", "main"]


def __getattr__(name: str) -> object:
    # Lazy, so that importing ciqueue.emulator.models does not start pulling in the HTTP server.
    if name in __all__:
        from ciqueue.emulator import server

        return getattr(server, name)
    raise AttributeError(name)
