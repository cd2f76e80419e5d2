"""``python -m ciqueue``: the same as the ``ciqueue`` command."""

from __future__ import annotations

from ciqueue.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
