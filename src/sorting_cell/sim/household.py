"""The household world: robosuite's own kitchen objects, three instances of each kind.

Source and licence
    The meshes (``robosuite/models/assets/objects/meshes/<name>.obj``), their scale
    (``objects/<name>.xml``) and textures (``assets/textures/*.png``) come from the installed
    ``robosuite==1.5.2`` wheel, the same wheel the robot models come from. The wheel's
    licence is MIT (``robosuite-1.5.2.dist-info/licenses/LICENSE``, copyright Stanford Vision
    and Learning Lab and UT Robot Perception and Learning Lab); no file under
    ``robosuite/models/assets/objects`` or ``assets/textures`` carries another notice except
    ``textures/lemon.png``, whose embedded XMP/IPTC rights name www.freeimages.co.uk's own
    terms (photographer Stephen Gibson), not MIT: the lemon is left out. ``textures/can.png``
    (a trade-marked cola logo) is not used by any robosuite object and not here either;
    ``textures/cereal.png`` shows a retailer's real cereal packaging, which robosuite ships
    under its MIT licence. Nothing derived is committed: the world is built at first use from
    the installed wheel into the user cache.

Categories (five, three instances each), sizes in metres as robosuite scales them
    ``bottle`` (glass bottle, texture ``glass.png``), ``bread`` (``bread.png``, scale 0.8),
    ``can`` (soda can, ``soda.png``), ``cereal`` (``cereal.png``) and ``milk`` (carton,
    ``ceramic.png``, scale 0.9). Two are resized to what the hand can hold (:data:`GRASPABLE`
    across): robosuite's cereal box (15 x 10 x 3 cm) lies flat 10 cm wide, so it is built as
    a single-serve box, its front scaled by 0.55 to 8.25 x 5.5 cm and its 3 cm thickness
    kept (the front's print keeps its proportions); its bottle (16 cm long, 5.9 cm across
    lying) is scaled by 0.9 to a small 14.4 x 5.3 cm bottle. The can rests lying: standing
    (8 cm) it would be taller than a box takes (:data:`~.mesh_objects.MAX_HEIGHT`).

Instances
    ``robosuite``: the model itself. ``recoloured``: its texture recoloured (a hue rotation
    of labels and glass, another toast level of bread, a tinted carton for the white milk
    carton). ``resized``: another recolouring and a size change of 10-20 %, up when the
    middle extent stays within :data:`GRASPABLE`, else down. All draws come from a seed, so
    the same seed builds the same world.

Every instance is written as ``<category>/<instance>/model.obj`` + MTL + texture PNG and
prepared by :func:`sorting_cell.sim.catalog.folder_catalog` like any user mesh folder
(checks, CoACD, drop test for the resting pose).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .mesh_objects import FORMAT_VERSION

__all__ = ['MODELS', 'GRASPABLE', 'SEED', 'HouseholdUnavailableError', 'household_objects',
           'build_meshes', 'robosuite_assets']

#: The widest middle extent (m) an instance may have: the grasp planner opens the Panda hand
#: (8 cm at most) 1.2 cm wider than the object on each side; a wider object is touched by a
#: finger on the way down.
GRASPABLE = 0.056
#: Longest side of a texture (pixels).
TEXTURE_SIDE = 512
#: Seed of the world's recolourings and size changes.
SEED = 14
ROBOSUITE_VERSION = '1.5.2'
# folder layout version of this builder on top of mesh_objects.FORMAT_VERSION
_VERSION = f'{FORMAT_VERSION}.2'


class HouseholdUnavailableError(FileNotFoundError):
    """robosuite's object meshes, which the household world is built from, are missing."""


@dataclass(frozen=True)
class Model:
    """One robosuite object: its mesh and texture names, scale per mesh axis, and how its
    texture is recoloured (``'hue'``, ``'shade'`` or ``'tint'``)."""

    mesh: str
    texture: str
    scale: tuple[float, float, float]
    recolour: str


#: Category -> robosuite model (scales: the MJCF's; bottle and cereal made graspable, see
#: the module doc).
MODELS = {
    'bottle': Model('bottle', 'glass', (0.9, 0.9, 0.9), 'hue'),
    'bread': Model('bread', 'bread', (0.8, 0.8, 0.8), 'shade'),
    'can': Model('can', 'soda', (1.0, 1.0, 1.0), 'hue'),
    'cereal': Model('cereal', 'cereal', (0.55, 1.0, 0.55), 'hue'),
    'milk': Model('milk', 'ceramic', (0.9, 0.9, 0.9), 'tint'),
}
INSTANCES = ('robosuite', 'recoloured', 'resized')


def robosuite_assets() -> Path:
    """The installed robosuite wheel's ``models/assets`` folder (robosuite is not imported).

    Raises
    ------
    HouseholdUnavailableError
        robosuite is not installed, or its object meshes or textures are missing.
    """
    spec = importlib.util.find_spec('robosuite')
    if spec is None or not spec.submodule_search_locations:
        raise HouseholdUnavailableError(
            "the 'household' world is built from robosuite's object meshes, and robosuite is "
            f'not installed: pip install --no-deps robosuite=={ROBOSUITE_VERSION}')
    root = Path(spec.submodule_search_locations[0]) / 'models' / 'assets'
    _check_assets(root)
    return root


def _check_assets(root: Path) -> None:
    missing = [p for m in MODELS.values()
               for p in (root / 'objects' / 'meshes' / f'{m.mesh}.obj',
                         root / 'textures' / f'{m.texture}.png') if not p.is_file()]
    if missing:
        raise HouseholdUnavailableError(
            f"the 'household' world needs robosuite {ROBOSUITE_VERSION}'s object meshes, but "
            f'{", ".join(str(p) for p in missing)} '
            f'{"is" if len(missing) == 1 else "are"} missing: '
            f'pip install --force-reinstall --no-deps robosuite=={ROBOSUITE_VERSION}')


def _recolour(rgb: np.ndarray, kind: str, rng: np.random.Generator, variant: int) -> np.ndarray:
    """``rgb`` recoloured; ``variant`` 0 and 1 draw from disjoint ranges so they differ."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.float64)
    if kind == 'hue':
        # another label colour: at least 60 degrees from the original and from each other
        lo, hi = ((60, 150), (210, 300))[variant]
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(lo, hi) * 256 / 360) % 256
    elif kind == 'shade':
        # bread toasted darker, or paler and less browned
        lo, hi = ((0.55, 0.75), (1.1, 1.25))[variant]
        hsv[..., 2] *= rng.uniform(lo, hi)
        hsv[..., 1] *= 1.15 if variant == 0 else 0.8
    elif kind == 'tint':
        # a white carton printed in a colour (cartons are colour-coded by kind of milk)
        hsv[..., 0] = rng.uniform(0, 256)
        hsv[..., 1] = np.maximum(hsv[..., 1], rng.uniform(0.3, 0.5) * 255)
        hsv[..., 2] *= rng.uniform(0.8, 0.95)
    else:
        raise ValueError(f'unknown recolouring {kind!r}')
    hsv = np.clip(np.rint(hsv), 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)


def _size_factor(extents: np.ndarray, rng: np.random.Generator) -> float:
    """A 10-20 % size change: larger while the middle extent stays graspable, else smaller."""
    m = rng.uniform(0.10, 0.20)
    middle = float(np.sort(extents)[1])
    return 1 + m if middle * (1 + m) <= GRASPABLE else 1 - m


def build_meshes(out: str | Path, assets: str | Path | None = None, seed: int = SEED,
                 categories=None) -> dict[str, list[str]]:
    """Write every instance as ``out/<category>/<instance>/model.obj`` (+ MTL, PNG).

    Returns category -> instance folder paths relative to ``out``. The same ``seed`` writes
    the same files; ``categories`` (default all) builds only those, as the full world has them.

    Raises
    ------
    HouseholdUnavailableError
        robosuite (or one of its object meshes or textures) is missing.
    """
    import trimesh
    from PIL import Image

    assets = robosuite_assets() if assets is None else Path(assets)
    _check_assets(assets)
    out = Path(out)
    index: dict[str, list[str]] = {}
    for k, (category, model) in enumerate(sorted(MODELS.items())):
        if categories is not None and category not in categories:
            continue
        rng = np.random.default_rng([seed, k])
        mesh = trimesh.load(str(assets / 'objects' / 'meshes' / f'{model.mesh}.obj'),
                            process=False, force='mesh')
        uv = np.asarray(mesh.visual.uv, float)
        mesh = trimesh.Trimesh(np.asarray(mesh.vertices, float) * np.array(model.scale),
                               mesh.faces, process=False)
        texture = np.asarray(Image.open(assets / 'textures' / f'{model.texture}.png')
                             .convert('RGB'))
        # an object spans some 50 camera pixels: more texture is only slower to write and load
        f = TEXTURE_SIDE / max(texture.shape[:2])
        if f < 1:
            texture = cv2.resize(texture, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        index[category] = []
        for i, name in enumerate(INSTANCES):
            skin, factor = texture, 1.0
            if i >= 1:
                skin = _recolour(texture, model.recolour, rng, variant=i - 1)
            if name == 'resized':
                factor = _size_factor(mesh.extents, rng)
            inst = mesh.copy()
            inst.apply_scale(factor)
            if np.sort(inst.extents)[1] > GRASPABLE + 1e-6:
                raise ValueError(f'{category}/{name}: {np.sort(inst.extents)[1] * 100:.1f} cm '
                                 f'across, wider than the hand takes ({GRASPABLE * 100} cm)')
            inst.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(skin))
            folder = out / category / name
            folder.mkdir(parents=True, exist_ok=True)
            inst.export(folder / 'model.obj')
            (folder / 'source.json').write_text(json.dumps({
                'robosuite': ROBOSUITE_VERSION, 'mesh': f'objects/meshes/{model.mesh}.obj',
                'texture': f'textures/{model.texture}.png', 'licence': 'MIT (robosuite)',
                'scale': [s * factor for s in model.scale],
                'recolour': model.recolour if i >= 1 else None, 'seed': seed}, indent=1))
            index[category].append(f'{category}/{name}')
    return index


def household_cache_dir(seed: int = SEED) -> Path:
    from ..assets import cache_dir
    return cache_dir() / 'sim_objects' / f'household-v{_VERSION}-seed{seed}'


def household_objects(seed: int = SEED, log=None) -> dict[str, list[Path]]:
    """Category -> object folders of the household world, built at first use.

    Raises
    ------
    HouseholdUnavailableError
        robosuite's object meshes are not installed.
    """
    from .catalog import folder_catalog
    root = household_cache_dir(seed)
    meshes = root / 'meshes'
    if not (root / 'index.json').is_file():
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix='household-', dir=root.parent))
        try:
            index = build_meshes(tmp / 'meshes', seed=seed)
            (tmp / 'index.json').write_text(json.dumps({'categories': index}, indent=1))
            try:
                os.replace(tmp, root)
            except OSError:
                # another process finished the same build first: keep its copy
                if not (root / 'index.json').is_file():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return folder_catalog(meshes, log=log)
