"""Local tooling: the local SCF runtime, the rehearsal and the CLI tour.

May import the application layer, the API and the emulator; nothing below imports it. Never shipped in
the SCF layer. This face holds no logic.
"""
