"""A template file that is not the open body (for hash-check tests)."""
from __future__ import annotations

from pathlib import Path

from uvkit.template import load_template, save_template_npz


def other_template_file(folder: Path) -> Path:
    """The open body with its vertices moved by 1 cm, saved as ``other.npz`` in ``folder``."""
    template = load_template("open")
    moved = template.with_vertices(template.vertices + 0.01)
    path = Path(folder) / "other.npz"
    save_template_npz(moved, path)
    return path
