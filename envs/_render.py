"""Small RGB renderings for the text-like environments (``render_mode="rgb_array"``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

CELL = 8  # pixels per cell side

_PALETTE = {
    " ": (0, 0, 0),
    ".": (96, 96, 96),  # corridor
    "A": (220, 40, 40),  # agent
    "G": (40, 200, 60),  # goal arm
    "x": (110, 30, 30),  # wrong arm
}
_UNKNOWN = (255, 255, 255)
_OFF, _ON = (40, 40, 40), (235, 235, 235)


def _blocks(colors: np.ndarray, cell: int) -> np.ndarray:
    """(rows, cols, 3) colours -> (rows*cell, cols*cell, 3) uint8 image."""
    return np.repeat(np.repeat(colors, cell, axis=0), cell, axis=1).astype(np.uint8)


def char_grid_to_rgb(text: str, cell: int = CELL) -> np.ndarray:
    """One ``cell``×``cell`` block per character of ``text`` (lines padded to equal width)."""
    lines = text.rstrip("\n").split("\n")
    width = max(len(line) for line in lines)
    colors = np.array(
        [[_PALETTE.get(ch, _UNKNOWN) for ch in line.ljust(width)] for line in lines],
        dtype=np.uint8,
    )
    return _blocks(colors, cell)


def lit_cells_to_rgb(rows: Sequence[Iterable[int]], width: int, cell: int = CELL) -> np.ndarray:
    """One strip of ``width`` cells per row, with the cells whose indices it lists lit."""
    colors = np.empty((len(rows), width, 3), dtype=np.uint8)
    colors[:] = _OFF
    for r, lit in enumerate(rows):
        for i in lit:
            colors[r, i] = _ON
    return _blocks(colors, cell)
