"""A local CI (Cloud Infinite) queue API emulator, split the moto way.

``models`` holds the state and rules, ``responses`` answers one CI action per method, ``routing``
maps Host and path to an action, ``faults`` injects failures, ``jobs`` and ``cos_objects`` play the
processing jobs and COS objects of local mode, and ``server`` serves HTTP. Start one with
``ciqueue.emulator.server.EmulatorServer`` (tests, demo) or ``ciqueue emulator`` (command line).
May import only ``ciqueue.ci`` and the foundation. This face holds no logic.
"""
