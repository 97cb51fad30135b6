import numpy as np
from PIL import Image

from speech2face.synth.synthetic_faces import GRID_AGES, GRID_VARIED_ROWS, face_grid, main


def test_contact_sheet_layout_and_determinism():
    grid = face_grid(seed=3, size=32)
    rows = len(GRID_AGES) + len(GRID_VARIED_ROWS)
    assert grid.shape == (rows * 32, 8 * 32, 3) and grid.dtype == np.uint8
    assert np.array_equal(grid, face_grid(seed=3, size=32))
    tiles = grid.reshape(rows, 32, 8, 32, 3).transpose(0, 2, 1, 3, 4).reshape(-1, 32, 32, 3)
    assert len({tile.tobytes() for tile in tiles}) == len(tiles)  # every tile a different face


def test_command_writes_the_png(tmp_path):
    out = tmp_path / "grid.png"
    assert main(["--out", str(out), "--size", "32", "--seed", "1"]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), face_grid(seed=1, size=32))
    assert [path.name for path in tmp_path.iterdir()] == ["grid.png"]
