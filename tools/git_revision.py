"""Import a package folder as it was at another git revision, beside the working tree's, so that a
benchmark can time both in one process (``--baseline REF`` of ``bench_render.py`` and
``bench_mirror.py``)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def import_at_revision(revision: str, folder: str, name: str, scratch: Path) -> ModuleType:
    """The package ``folder`` (a path in the repository, e.g. ``"decomr/render"``) at git
    ``revision``, unpacked into the directory ``scratch`` and imported as the top-level package
    ``name``. Its relative imports stay inside it; its absolute imports reach the working tree's
    packages."""
    archive = subprocess.run(["git", "archive", revision, folder], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(scratch, filter="data")
    package = scratch / name
    (scratch / folder).rename(package)
    spec = importlib.util.spec_from_file_location(name, package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
