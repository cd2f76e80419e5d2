"""One build step beside pyproject.toml (which holds every other setting): a built ciqueue carries
the deployment's files.

``build_py`` also copies the checkout's ``serverless.yml``, ``functions/<name>/index.py`` and
``functions/<name>/serverless.yml`` and ``pyproject.toml`` into the built package as
``ciqueue/deploy/project/`` (``ciqueue.deploy.project`` reads them), so ``ciqueue demo``,
``invoke``, ``local`` and ``package`` work from an installed package, anywhere. The checkout's
files stay the one home; an editable install reads them in place and gets no copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
FILES = ["serverless.yml", "pyproject.toml", "functions/*/index.py", "functions/*/serverless.yml"]


class BuildWithProject(build_py):
    """``build_py``, then the deployment's files into ``<build>/ciqueue/deploy/project/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "ciqueue" / "deploy" / "project"
        shutil.rmtree(target, ignore_errors=True)
        for pattern in FILES:
            found = sorted(HERE.glob(pattern))
            if not found:
                raise SystemExit(f"setup.py: no {pattern} in {HERE} to carry in the package")
            for source in found:
                dest = target / source.relative_to(HERE)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)


setup(cmdclass={"build_py": BuildWithProject})
