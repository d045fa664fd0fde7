"""Object families built from primitives: screwdrivers, pens, wrenches, USB sticks, bolts,
batteries.

Every family is a function ``make_<family>(rng) -> ObjectSpec`` that draws one member: its
size, colours and proportions vary within the family, while the shape that makes the family
recognisable (a fat handle on a thin shaft, a long thin body with a cap, a flat bar with ring
ends, ...) stays.

Conventions of an :class:`ObjectSpec` (the object's own frame): ``x`` along the long axis,
``y`` across, ``z`` up; the origin is the centre of the footprint at table height, so the
object rests with ``z = 0`` on the table. Visual geoms (what the camera sees) and collision
geoms (what physics and the gripper touch) are separate: round things collide as boxes of the
same width and height, so they lie still instead of rolling, and grasp widths match what
is seen.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ['Part', 'ObjectSpec', 'FAMILIES', 'FAMILY_NAMES', 'make_object', 'MAX_GRASP_WIDTH']

#: Widest cross-section any member offers at its grasp point (the Panda hand opens 8 cm).
MAX_GRASP_WIDTH = 0.07

# Quaternions (w, x, y, z): a cylinder's axis is local z; these lay it along x or keep it up.
_ALONG_X = (math.cos(math.pi / 4), 0.0, math.sin(math.pi / 4), 0.0)
_UP = (1.0, 0.0, 0.0, 0.0)

_STEEL = (0.66, 0.67, 0.70)
_DARK = (0.06, 0.06, 0.07)


@dataclass
class Part:
    """One geom of an object, in the object's frame.

    ``kind`` is a MuJoCo geom type name (``'box'``, ``'cylinder'``, ``'sphere'``,
    ``'ellipsoid'``, ``'mesh'``); ``size`` follows MuJoCo's half-size conventions.
    ``collision`` parts are invisible boxes carrying the mass; visual parts carry none.
    """

    kind: str
    size: tuple[float, ...]
    pos: tuple[float, float, float]
    quat: tuple[float, float, float, float] = _UP
    rgba: tuple[float, float, float, float] = (0.5, 0.5, 0.5, 1.0)
    collision: bool = False
    mass: float = 0.0
    mesh: str | None = None
    specular: float = 0.3
    #: Name of an image in :attr:`ObjectSpec.textures` the mesh's UVs index (visual parts).
    texture: str | None = None


@dataclass
class ObjectSpec:
    """One object: its family, geometry and physical properties.

    Attributes
    ----------
    family : str
        Family name (ground truth; never given to the perception pipeline).
    length, width : float
        Footprint extents along the object's x and y axes (m), used for layouts.
    height : float
        Highest point above the table when lying flat (m).
    grasp_width : float
        Width across y at the grasp point (m), below :data:`MAX_GRASP_WIDTH`.
    grasp_offset : float
        Where along x the object is best grasped, from the footprint centre (m).
    parts : list of Part
    meshes : dict
        Mesh name -> vertex array (N, 3) for ``'mesh'`` parts (convex hulls).
    instance : str
        Which physical object this is (mesh objects; empty for drawn primitives).
    mesh_files : dict
        Mesh name -> OBJ file (with texture coordinates) for textured visual meshes.
    textures : dict
        Texture name -> PNG file, referenced by :attr:`Part.texture`.
    """

    family: str
    length: float
    width: float
    height: float
    grasp_width: float
    grasp_offset: float
    parts: list[Part] = field(default_factory=list)
    meshes: dict[str, np.ndarray] = field(default_factory=dict)
    friction: float = 1.0
    instance: str = ''
    mesh_files: dict[str, str] = field(default_factory=dict)
    textures: dict[str, str] = field(default_factory=dict)

    @property
    def mass(self) -> float:
        return float(sum(p.mass for p in self.parts))


def _rgba(rgb, alpha: float = 1.0) -> tuple[float, float, float, float]:
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]), alpha)


def _jitter(rng: np.random.Generator, rgb, amount: float = 0.06) -> tuple[float, ...]:
    """A colour near ``rgb``: same hue family, a little lighter/darker and shifted."""
    base = np.asarray(rgb, float)
    out = base * rng.uniform(0.85, 1.12) + rng.normal(0.0, amount, 3)
    return tuple(np.clip(out, 0.0, 1.0))


def _pick(rng: np.random.Generator, palette) -> tuple[float, ...]:
    return palette[int(rng.integers(len(palette)))]


def _hex_prism(circumradius: float, thickness: float) -> np.ndarray:
    """Vertices of a hexagonal prism along z; a flat face points along +x and -x."""
    angles = np.deg2rad(30.0 + 60.0 * np.arange(6))
    ring = np.stack([circumradius * np.cos(angles), circumradius * np.sin(angles)], axis=1)
    bottom = np.column_stack([ring, np.full(6, -thickness / 2)])
    top = np.column_stack([ring, np.full(6, thickness / 2)])
    return np.vstack([bottom, top])


def make_screwdriver(rng: np.random.Generator) -> ObjectSpec:
    """A round handle with a darker grip band, a metal ferrule, shaft and blade."""
    handle_len = rng.uniform(0.065, 0.09)
    handle_r = rng.uniform(0.011, 0.015)
    shaft_len = rng.uniform(0.06, 0.10)
    shaft_r = rng.uniform(0.0022, 0.0032)
    handle_rgb = _jitter(rng, _pick(rng, [(0.85, 0.12, 0.10), (0.95, 0.50, 0.05),
                                          (0.90, 0.78, 0.10)]))
    grip_rgb = _jitter(rng, _pick(rng, [_DARK, (0.15, 0.15, 0.15)]), 0.02)
    length = handle_len + shaft_len + 0.012
    x0 = -length / 2
    zc = handle_r
    parts = [
        Part('cylinder', (handle_r, handle_len / 2), (x0 + handle_len / 2, 0, zc), _ALONG_X,
             _rgba(handle_rgb)),
        Part('cylinder', (handle_r * 1.04, handle_len * 0.18), (x0 + handle_len * 0.45, 0, zc),
             _ALONG_X, _rgba(grip_rgb)),
        Part('ellipsoid', (handle_r * 0.5, handle_r * 0.95, handle_r * 0.95),
             (x0 + 0.002, 0, zc), _UP, _rgba(handle_rgb)),
        Part('cylinder', (handle_r * 0.45, 0.006), (x0 + handle_len + 0.005, 0, zc), _ALONG_X,
             _rgba(_STEEL), specular=0.8),
        Part('cylinder', (shaft_r, shaft_len / 2), (x0 + handle_len + 0.011 + shaft_len / 2, 0,
                                                    zc), _ALONG_X, _rgba(_STEEL), specular=0.8),
        Part('box', (0.005, shaft_r * 1.3, shaft_r * 0.35),
             (length / 2 - 0.005, 0, zc), _UP, _rgba(_STEEL), specular=0.8),
        # collision: a flat-bottomed handle the gripper closes on, and the shaft
        Part('box', (handle_len / 2, handle_r, handle_r), (x0 + handle_len / 2, 0, zc),
             collision=True, mass=rng.uniform(0.04, 0.065)),
        Part('box', ((shaft_len + 0.012) / 2, shaft_r, shaft_r),
             (x0 + handle_len + (shaft_len + 0.012) / 2, 0, zc), collision=True, mass=0.015),
    ]
    return ObjectSpec('screwdriver', length, 2 * handle_r, 2 * handle_r, 2 * handle_r,
                      x0 + handle_len / 2, parts, friction=1.0)


def make_pen(rng: np.random.Generator) -> ObjectSpec:
    """A long thin barrel with a cap and clip at one end and a writing tip at the other."""
    length = rng.uniform(0.125, 0.15)
    r = rng.uniform(0.0042, 0.0055)
    cap_r = r * 1.12
    cap_len = rng.uniform(0.03, 0.04)
    tip_len = 0.012
    body_rgb = _jitter(rng, _pick(rng, [(0.10, 0.22, 0.78), (0.06, 0.10, 0.42),
                                        (0.25, 0.50, 0.90)]), 0.04)
    cap_rgb = _jitter(rng, _pick(rng, [body_rgb, _DARK, (0.92, 0.92, 0.95)]), 0.02)
    x0 = -length / 2
    zc = cap_r
    body_len = length - cap_len - tip_len
    parts = [
        Part('cylinder', (r, body_len / 2), (x0 + tip_len + body_len / 2, 0, zc), _ALONG_X,
             _rgba(body_rgb), specular=0.6),
        Part('cylinder', (cap_r, cap_len / 2), (length / 2 - cap_len / 2, 0, zc), _ALONG_X,
             _rgba(cap_rgb), specular=0.6),
        Part('box', (cap_len * 0.4, 0.0014, 0.0008),
             (length / 2 - cap_len * 0.55, 0, zc + cap_r + 0.0006), _UP, _rgba(_STEEL),
             specular=0.9),
        Part('cylinder', (r * 0.65, tip_len / 2), (x0 + tip_len / 2 + 0.002, 0, zc), _ALONG_X,
             _rgba((0.85, 0.85, 0.85)), specular=0.5),
        Part('sphere', (r * 0.3,), (x0 + 0.0015, 0, zc), _UP, _rgba(_STEEL), specular=0.9),
        Part('box', (length / 2, cap_r, cap_r), (0, 0, zc), collision=True,
             mass=rng.uniform(0.010, 0.018)),
    ]
    return ObjectSpec('pen', length, 2 * cap_r, 2 * cap_r + 0.0016, 2 * cap_r, 0.0, parts,
                      friction=1.0)


def make_wrench(rng: np.random.Generator) -> ObjectSpec:
    """A flat bar with a closed ring at one end and an open jaw at the other."""
    length = rng.uniform(0.12, 0.17)
    # heads about twice the bar's width: the silhouette that says "wrench"
    bar_w = rng.uniform(0.009, 0.012)
    # thick enough for the Panda's pads, which stop 4.6 mm above the table
    t = rng.uniform(0.009, 0.011)
    ring_r = rng.uniform(0.014, 0.018)
    jaw_r = ring_r * rng.uniform(0.95, 1.15)
    # chrome-vanadium steel, polished or satin
    rgb = _jitter(rng, _pick(rng, [(0.70, 0.71, 0.74), (0.60, 0.62, 0.66)]), 0.03)
    color = _rgba(rgb)
    zc = t / 2
    x_ring = -length / 2 + ring_r
    x_jaw = length / 2 - jaw_r
    bar_len = x_jaw - x_ring
    parts = [Part('box', (bar_len / 2, bar_w / 2, t / 2 * 0.9), ((x_ring + x_jaw) / 2, 0, zc),
                  _UP, color, specular=0.6)]
    # the closed ring: segments around a circle leave a real hole the camera sees through
    n_seg, inner = 10, ring_r * 0.55
    mid_r = (ring_r + inner) / 2
    seg_len = 2 * mid_r * math.tan(math.pi / n_seg) * 1.1
    for k in range(n_seg):
        a = 2 * math.pi * k / n_seg
        quat = (math.cos(a / 2), 0.0, 0.0, math.sin(a / 2))
        parts.append(Part('box', ((ring_r - inner) / 2, seg_len / 2, t / 2),
                          (x_ring + mid_r * math.cos(a), mid_r * math.sin(a), zc), quat, color,
                          specular=0.6))
    # the open jaw: a head block and two prongs around a gap
    gap = jaw_r * 0.9
    prong_w = (2 * jaw_r - gap) / 2
    parts += [
        Part('box', (jaw_r * 0.35, jaw_r, t / 2), (x_jaw - jaw_r * 0.35, 0, zc), _UP, color,
             specular=0.6),
        Part('box', (jaw_r * 0.65, prong_w / 2, t / 2),
             (x_jaw + jaw_r * 0.65, gap / 2 + prong_w / 2, zc), _UP, color, specular=0.6),
        Part('box', (jaw_r * 0.65, prong_w / 2, t / 2),
             (x_jaw + jaw_r * 0.65, -gap / 2 - prong_w / 2, zc), _UP, color, specular=0.6),
    ]
    mass = rng.uniform(0.08, 0.14)
    parts += [
        Part('box', (bar_len / 2, bar_w / 2, t / 2), ((x_ring + x_jaw) / 2, 0, zc),
             collision=True, mass=mass * 0.6),
        Part('box', (ring_r, ring_r, t / 2), (x_ring, 0, zc), collision=True, mass=mass * 0.2),
        Part('box', (jaw_r, jaw_r, t / 2), (x_jaw + 0.3 * jaw_r, 0, zc), collision=True,
             mass=mass * 0.2),
    ]
    return ObjectSpec('wrench', length + 0.6 * jaw_r, 2 * max(ring_r, jaw_r), t, bar_w, 0.0,
                      parts, friction=0.8)


def make_usb_stick(rng: np.random.Generator) -> ObjectSpec:
    """A small flat body with a label and a metal USB-A connector."""
    body_len = rng.uniform(0.04, 0.058)
    w = rng.uniform(0.016, 0.022)
    t = rng.uniform(0.009, 0.012)
    plug_len, plug_w, plug_t = 0.012, 0.012, 0.0045
    body_rgb = _jitter(rng, _pick(rng, [(0.08, 0.08, 0.09), (0.50, 0.12, 0.55),
                                        (0.93, 0.93, 0.93)]), 0.03)
    label_rgb = _jitter(rng, _pick(rng, [(0.95, 0.45, 0.05), (0.85, 0.85, 0.88),
                                         (0.10, 0.60, 0.85)]), 0.03)
    length = body_len + plug_len
    x0 = -length / 2
    zc = t / 2
    plug_x = x0 + body_len + plug_len / 2
    parts = [
        Part('box', (body_len / 2, w / 2, t / 2), (x0 + body_len / 2, 0, zc), _UP,
             _rgba(body_rgb), specular=0.4),
        Part('box', (body_len * 0.3, w * 0.35, 0.0003),
             (x0 + body_len * 0.55, 0, t + 0.0003), _UP, _rgba(label_rgb)),
        Part('cylinder', (w * 0.16, 0.0004), (x0 + w * 0.3, 0, t + 0.0004), _UP,
             _rgba(_DARK)),
        Part('box', (plug_len / 2, plug_w / 2, plug_t / 2), (plug_x, 0, zc), _UP,
             _rgba(_STEEL), specular=0.9),
        Part('box', (0.002, 0.0015, 0.0003), (plug_x + 0.001, 0.003, zc + plug_t / 2 + 0.0002),
             _UP, _rgba(_DARK)),
        Part('box', (0.002, 0.0015, 0.0003), (plug_x + 0.001, -0.003, zc + plug_t / 2 + 0.0002),
             _UP, _rgba(_DARK)),
        Part('box', (body_len / 2, w / 2, t / 2), (x0 + body_len / 2, 0, zc), collision=True,
             mass=rng.uniform(0.008, 0.014)),
        Part('box', (plug_len / 2, plug_w / 2, plug_t / 2), (plug_x, 0, zc), collision=True,
             mass=0.003),
    ]
    return ObjectSpec('usb_stick', length, w, t + 0.0008, w, x0 + body_len / 2, parts,
                      friction=0.9)


def make_bolt(rng: np.random.Generator) -> ObjectSpec:
    """A hexagonal head on a threaded shaft, lying on a flat of the head."""
    head_R = rng.uniform(0.0085, 0.012)
    head_t = rng.uniform(0.0055, 0.0075)
    shaft_r = rng.uniform(0.0038, 0.0052)
    shaft_len = rng.uniform(0.032, 0.055)
    # (colour, density kg/m^3): brass, zinc-plated steel, bare steel
    base, density = _pick(rng, [((0.80, 0.62, 0.22), 8500.0), ((0.88, 0.76, 0.35), 7850.0),
                                ((0.55, 0.56, 0.60), 7850.0)])
    rgb = _jitter(rng, base, 0.03)
    color = _rgba(rgb)
    inradius = head_R * math.cos(math.pi / 6)
    length = head_t + shaft_len
    x0 = -length / 2
    zc = inradius
    parts = [
        Part('mesh', (), (x0 + head_t / 2, 0, zc), _ALONG_X, color, mesh='hex', specular=0.8),
        Part('cylinder', (shaft_r * 0.92, shaft_len / 2), (x0 + head_t + shaft_len / 2, 0, zc),
             _ALONG_X, color, specular=0.8),
    ]
    pitch = rng.uniform(0.0022, 0.003)
    threads = np.arange(x0 + head_t + 0.006, length / 2 - 0.001, pitch)
    for x in threads:
        parts.append(Part('cylinder', (shaft_r, 0.0004), (float(x), 0, zc), _ALONG_X,
                          _rgba(np.asarray(rgb) * 0.8), specular=0.8))
    # hexagon area = 3 * sqrt(3) / 2 * R^2
    mass = density * (math.pi * shaft_r ** 2 * shaft_len + 2.598 * head_R ** 2 * head_t)
    parts += [
        Part('box', (head_t / 2, head_R, inradius), (x0 + head_t / 2, 0, zc), collision=True,
             mass=mass * 0.45),
        Part('box', (shaft_len / 2, shaft_r, shaft_r), (x0 + head_t + shaft_len / 2, 0, zc),
             collision=True, mass=mass * 0.55),
    ]
    return ObjectSpec('bolt', length, 2 * head_R, 2 * inradius, 2 * shaft_r,
                      x0 + head_t + shaft_len / 2, parts,
                      meshes={'hex': _hex_prism(head_R, head_t)}, friction=0.9)


def make_battery(rng: np.random.Generator) -> ObjectSpec:
    """A cylindrical cell with a coloured top band and a positive button."""
    r = rng.uniform(0.0052, 0.0072)
    length = rng.uniform(0.044, 0.05) * (r / 0.0072) ** 0.3
    body_rgb, band_rgb = _pick(rng, [(_DARK, (0.80, 0.45, 0.15)),
                                     ((0.10, 0.10, 0.12), (0.75, 0.75, 0.78)),
                                     ((0.85, 0.10, 0.12), (0.08, 0.08, 0.08))])
    body_rgb = _jitter(rng, body_rgb, 0.02)
    band_rgb = _jitter(rng, band_rgb, 0.02)
    x0 = -length / 2
    zc = r
    band = length * rng.uniform(0.25, 0.4)
    parts = [
        Part('cylinder', (r, (length - band) / 2), (x0 + (length - band) / 2, 0, zc), _ALONG_X,
             _rgba(body_rgb), specular=0.6),
        Part('cylinder', (r, band / 2 - 0.0005), (length / 2 - band / 2 - 0.0005, 0, zc),
             _ALONG_X, _rgba(band_rgb), specular=0.7),
        Part('cylinder', (r * 0.35, 0.0008), (length / 2 + 0.0003, 0, zc), _ALONG_X,
             _rgba(_STEEL), specular=0.9),
        Part('box', (length / 2, r, r), (0, 0, zc), collision=True,
             mass=rng.uniform(0.011, 0.024)),
    ]
    return ObjectSpec('battery', length + 0.0016, 2 * r, 2 * r, 2 * r, 0.0, parts,
                      friction=0.9)


FAMILIES: dict[str, Callable[[np.random.Generator], ObjectSpec]] = {
    'screwdriver': make_screwdriver,
    'pen': make_pen,
    'wrench': make_wrench,
    'usb_stick': make_usb_stick,
    'bolt': make_bolt,
    'battery': make_battery,
}
FAMILY_NAMES = tuple(FAMILIES)


def make_object(family: str, rng: np.random.Generator) -> ObjectSpec:
    """Draw one member of ``family``.

    Raises
    ------
    ValueError
        ``family`` is not one of :data:`FAMILY_NAMES`.
    """
    try:
        maker = FAMILIES[family]
    except KeyError:
        raise ValueError(f'unknown object family {family!r}; choose from '
                         f'{", ".join(FAMILY_NAMES)}') from None
    return maker(rng)
