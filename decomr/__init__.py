"""decomr: DecoMR mesh regression (image -> dense correspondence in a continuous UV space -> mesh)."""

__version__ = "0.1.0"
