"""Which objects a simulated tray is made of: a world name or a folder of meshes.

- ``'primitives'`` (default): the drawn families of :mod:`sorting_cell.sim.objects`.
- ``'tools'``: the tool dataset's 28 tools in 7 categories (:mod:`.tool_models`), built at
  first use from the dataset into the user cache.
- ``'household'``: robosuite's kitchen objects, 5 categories x 3 instances (:mod:`.household`),
  built at first use from the installed robosuite wheel into the user cache.
- a folder laid out as ``<category>/<instance>/`` with one mesh each (OBJ + MTL +
  textures, GLB, PLY; metres, any orientation): every mesh is checked and prepared once
  (:func:`sorting_cell.sim.mesh_objects.prepare_mesh`) into the user cache, keyed by the
  folder's path and its files' sizes and modification times. An instance folder that is
  already an object folder (``object.json`` inside) is used as it is.

The categories are ground truth, for scoring only.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from .mesh_objects import FORMAT_VERSION, MESH_SUFFIXES, MeshCheckError, load_object, \
    prepare_mesh
from .objects import ObjectSpec

__all__ = ['PRIMITIVES', 'WORLDS', 'object_catalog', 'folder_catalog', 'draw_objects',
           'is_primitives', 'resolve_categories']

PRIMITIVES = 'primitives'
#: Named worlds (anything else is taken as a folder).
WORLDS = (PRIMITIVES, 'tools', 'household')


def is_primitives(objects) -> bool:
    return objects is None or str(objects) in ('', PRIMITIVES)


def _folder_key(root: Path) -> str:
    h = hashlib.sha256(f'v{FORMAT_VERSION}:{root.resolve()}'.encode())
    for p in sorted(root.rglob('*')):
        if p.is_file():
            st = p.stat()
            h.update(f'{p.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}'.encode())
    return h.hexdigest()[:16]


def _mesh_file(instance: Path) -> Path:
    meshes = sorted(p for p in instance.iterdir()
                    if p.is_file() and p.suffix.lower() in MESH_SUFFIXES)
    if not meshes:
        raise MeshCheckError(f'{instance}: no mesh file (expected one of '
                             f'{", ".join(MESH_SUFFIXES)})')
    if len(meshes) > 1:
        raise MeshCheckError(f'{instance}: {len(meshes)} mesh files '
                             f'({", ".join(p.name for p in meshes)}); keep one per instance')
    return meshes[0]


def folder_catalog(root: str | Path, log=None) -> dict[str, list[Path]]:
    """Category -> prepared object folders of a ``<category>/<instance>/`` mesh folder.

    Raises
    ------
    MeshCheckError
        The layout is wrong or a mesh cannot be used (the message names the file).
    """
    from ..assets import cache_dir
    root = Path(root)
    if not root.is_dir():
        raise MeshCheckError(f'{root} is not a folder (and not a world: {", ".join(WORLDS)})')
    categories = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith('.'))
    if not categories:
        raise MeshCheckError(f'{root}: no category folders; lay it out as '
                             '<category>/<instance>/<mesh file>')
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    cache = cache_dir() / 'sim_objects' / f'folder-{_folder_key(root)}'
    out: dict[str, list[Path]] = {}
    for cat in categories:
        instances = sorted(p for p in cat.iterdir() if p.is_dir() and not p.name.startswith('.'))
        if not instances:
            raise MeshCheckError(f'{cat}: no instance folders; lay it out as '
                                 '<category>/<instance>/<mesh file>')
        out[cat.name] = []
        for inst in instances:
            if (inst / 'object.json').is_file():
                out[cat.name].append(inst)
                continue
            target = cache / cat.name / inst.name
            if not (target / 'object.json').is_file():
                log(f'preparing {cat.name}/{inst.name} (convex pieces, resting pose)')
                _, warnings = prepare_mesh(_mesh_file(inst), target, cat.name,
                                           f'{cat.name}/{inst.name}')
                for w in warnings:
                    log(f'warning: {w}')
            out[cat.name].append(target)
    return out


def object_catalog(objects) -> dict[str, list[Path]]:
    """Category -> object folders for a mesh world name or folder (not ``'primitives'``)."""
    if str(objects) == 'tools':
        from .tool_models import tool_objects
        return tool_objects()
    if str(objects) == 'household':
        from .household import household_objects
        return household_objects()
    return folder_catalog(objects)


def resolve_categories(families) -> list[str]:
    """Category names from a comma-separated string or a sequence."""
    return [str(f).strip() for f in (families.split(',') if isinstance(families, str)
                                     else families) if str(f).strip()]


def draw_objects(catalog: dict[str, list[Path]], n_objects: int | None, families,
                 rng: np.random.Generator) -> list[ObjectSpec]:
    """``n_objects`` objects (default: every instance once), cycling through the categories
    so the counts stay balanced; instances are drawn without repetition while they last."""
    if families is None:
        names = sorted(catalog)
    else:
        names = resolve_categories(families)
        unknown = [f for f in names if f not in catalog]
        if unknown or not names:
            raise ValueError(f'unknown object categories {unknown or names!r}; this world has '
                             f'{", ".join(sorted(catalog))}')
    if n_objects is None:
        n_objects = sum(len(catalog[f]) for f in names)
    pools = {f: list(rng.permutation(len(catalog[f]))) for f in names}
    out = []
    for i in range(n_objects):
        fam = names[i % len(names)]
        if not pools[fam]:
            pools[fam] = list(rng.permutation(len(catalog[fam])))
        out.append(load_object(catalog[fam][pools[fam].pop(0)]))
    return out
