"""Where the deployment's files are: a checkout, or the copy an installed package carries.

The files every tool that builds or runs the functions reads: the root ``serverless.yml`` (the
layer), ``functions/<name>/serverless.yml`` (timers, timeout, memory, environment) and
``functions/<name>/index.py`` (SCF's entry point), ``pyproject.toml`` (the layer's dependencies),
and the ``ciqueue`` package the layer copies.

Rules:
- a checkout (``pyproject.toml`` beside ``shared/ciqueue/``) comes first: the one this package
  is imported from (an editable install), then one at or above the working directory;
- otherwise the copy a built package carries in ``ciqueue/deploy/project/``: ``setup.py``'s build
  step copies the checkout's files there, so ``ciqueue demo``, ``invoke``, ``local`` and
  ``package`` work from an installed package, anywhere. It is read, never written, and the
  checkout's files stay the one home (an editable install has no copy and reads them in place);
- neither: ``InvalidInput`` naming where it looked.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ciqueue.errors import InvalidInput
from ciqueue.records import dataclass

BUNDLED = "project"  # the folder under ciqueue/deploy/ a built package carries the files in


@dataclass(frozen=True)
class Project:
    """The deployment's files: ``root`` holds serverless.yml, functions/ and pyproject.toml;
    ``package`` is the ciqueue package the layer copies; ``checkout`` says whether ``root`` is a
    source checkout (where ``dist/`` and a ``ciqueue.yml`` belong) or the installed copy."""

    root: Path
    package: Path
    checkout: bool

    @property
    def functions_dir(self) -> Path:
        return self.root / "functions"


def find_project(start: str | Path | None = None) -> Project:
    """The checkout at or above ``start`` when given; else the rules in this module's docstring."""
    package = Path(__file__).resolve().parents[1]
    if start is not None:
        found = _checkout_at_or_above(Path(start).resolve())
        if found is None:
            raise InvalidInput(
                "root", f"no ciqueue checkout at or above {start} (pyproject.toml with shared/ciqueue/)"
            )
        return found
    home = _checkout_at_or_above(package.parent)
    if home is not None and home.package.resolve() == package:
        return home
    found = _checkout_at_or_above(Path.cwd())
    if found is not None:
        return found
    bundled = resources.files("ciqueue.deploy") / BUNDLED
    if isinstance(bundled, Path) and (bundled / "serverless.yml").is_file():
        return Project(root=bundled, package=package, checkout=False)
    raise InvalidInput(
        "root",
        f"no ciqueue checkout (pyproject.toml with shared/ciqueue/) at or above {package.parent} or "
        f"{Path.cwd()}, and this package carries no {BUNDLED}/ copy (built without setup.py's step)",
    )


def _checkout_at_or_above(base: Path) -> Project | None:
    for folder in (base, *base.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "shared" / "ciqueue").is_dir():
            return Project(root=folder, package=folder / "shared" / "ciqueue", checkout=True)
    return None
