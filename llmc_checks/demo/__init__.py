"""The bundled demo: an example checks file and the synthetic snapshot it gates.

Both ship inside the package, so `llmc-checks demo DIR` can copy them out of an
installed wheel: the demo works without a clone of the repository.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

CONFIG = "checks.yaml"
SNAPSHOT = "snapshot.jsonl.gz"


class DemoExists(Exception):
    """A file the demo would write is already there (and overwriting was not asked for)."""


def copy_demo(dest: Path, *, force: bool = False) -> tuple[Path, Path]:
    """Write the example config and its snapshot into `dest`; (config, snapshot) paths.

    The config names the snapshot by a relative path, so the pair works wherever it lands.
    """
    targets = (dest / CONFIG, dest / SNAPSHOT)
    taken = [t for t in targets if t.exists()]
    if taken and not force:
        raise DemoExists(f"{taken[0]} already exists (--force overwrites it)")
    dest.mkdir(parents=True, exist_ok=True)
    bundled = resources.files(__name__)
    for target in targets:
        target.write_bytes(bundled.joinpath(target.name).read_bytes())
    return targets
