"""ChArUco calibration boards: their geometry, their printable image, their detection."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ['CharucoBoardSpec', 'BoardError', 'DICTIONARIES']

#: ArUco dictionaries a board may use (OpenCV's predefined names).
DICTIONARIES = tuple(sorted(n for n in dir(cv2.aruco) if n.startswith('DICT_')
                            and not n.startswith('DICT_APRILTAG')))


class BoardError(ValueError):
    """A board description that cannot be built, and why."""


@dataclass(frozen=True)
class CharucoBoardSpec:
    """A ChArUco board: ``squares_x`` x ``squares_y`` chessboard squares of
    ``square_length`` metres, ArUco markers of ``marker_length`` in the white squares.

    Board frame (OpenCV's): origin at the board's outer top-left corner as printed, x along
    the rows (to the right of the printed image), y down the printed image, z into the board
    (a board lying face up on the table has z pointing down).
    """

    squares_x: int = 8
    squares_y: int = 6
    square_length: float = 0.045
    marker_length: float = 0.034
    dictionary: str = 'DICT_5X5_100'

    def __post_init__(self):
        if self.squares_x < 3 or self.squares_y < 3:
            raise BoardError(f'a ChArUco board needs at least 3x3 squares, got '
                             f'{self.squares_x}x{self.squares_y}')
        if not self.square_length > 0 or not 0 < self.marker_length < self.square_length:
            raise BoardError(f'need 0 < marker_length < square_length, got marker '
                             f'{self.marker_length} m, square {self.square_length} m')
        if self.dictionary not in DICTIONARIES:
            raise BoardError(f'unknown ArUco dictionary {self.dictionary!r}; one of '
                             f'{", ".join(DICTIONARIES)}')
        n_markers = (self.squares_x * self.squares_y) // 2
        size = int(self.dictionary.split('_')[-1]) if self.dictionary.split('_')[-1].isdigit() \
            else 10 ** 6
        if n_markers > size:
            raise BoardError(f'{self.squares_x}x{self.squares_y} squares need {n_markers} '
                             f'markers but {self.dictionary} has only {size}')

    @classmethod
    def from_dict(cls, d: dict) -> CharucoBoardSpec:
        """From a config mapping (keys as the fields); unknown keys are an error."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise BoardError(f'unknown board keys {sorted(unknown)}; known: '
                             f'{sorted(cls.__dataclass_fields__)}')
        return cls(**d)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def size(self) -> tuple[float, float]:
        """Board width (x) and height (y) in metres, without margin."""
        return self.squares_x * self.square_length, self.squares_y * self.square_length

    def board(self) -> cv2.aruco.CharucoBoard:
        """The OpenCV board object."""
        d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard((self.squares_x, self.squares_y), self.square_length,
                                      self.marker_length, d)

    def corners(self) -> np.ndarray:
        """(N, 3) inner chessboard corners in the board frame (index = ChArUco corner id)."""
        return np.asarray(self.board().getChessboardCorners(), float).reshape(-1, 3)

    def image(self, pixels_per_square: int = 120) -> np.ndarray:
        """The board as a grey uint8 image, no margin: pixel (0, 0) is the board origin."""
        if pixels_per_square < 20:
            raise BoardError(f'pixels_per_square must be >= 20, got {pixels_per_square}')
        w, h = self.squares_x * pixels_per_square, self.squares_y * pixels_per_square
        return self.board().generateImage((w, h), marginSize=0, borderBits=1)
