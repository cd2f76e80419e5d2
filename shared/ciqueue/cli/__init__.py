"""The ``ciqueue`` command line: argument parsing, dispatch and table rendering.

The top door: may import anything below it, and reaches ``ciqueue.dev``, ``ciqueue.deploy`` and the
emulator lazily so that ``ciqueue --help`` stays instant. Not shipped in the SCF layer. This face holds
no logic.
"""
