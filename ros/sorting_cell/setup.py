"""ament_python package of sorting_cell for colcon (``ros2 run sorting_cell <node>``).

The code, config and launch files live at the repository root (``src/``, ``config/``,
``launch/``; linked here); the name, version, dependencies and executables come from the
root ``pyproject.toml``, the one place they are written. Pip users install the root instead.
"""
import os
import sys
from glob import glob

from setuptools import find_packages, setup

# realpath: colcon --symlink-install runs a link to this file from its build directory
HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
if sys.version_info >= (3, 11):
    import tomllib
else:   # pragma: no cover - Python 3.10 (Humble-era hosts)
    import tomli as tomllib
with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
    PROJECT = tomllib.load(f)['project']
PACKAGE = PROJECT['name']

setup(
    name=PACKAGE,
    version=PROJECT['version'],
    description=PROJECT['description'],
    license=PROJECT['license']['text'],
    python_requires=PROJECT['requires-python'],
    packages=find_packages(include=[PACKAGE, f'{PACKAGE}.*']),
    package_data={PACKAGE: ['**/*.yaml', '**/*.xml']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', [p for p in glob('config/*') if os.path.isfile(p)]),
        (f'share/{PACKAGE}/config/robots', glob('config/robots/*.yaml')),
    ],
    install_requires=PROJECT['dependencies'],
    zip_safe=True,
    entry_points={'console_scripts': [f'{k} = {v}'
                                      for k, v in PROJECT['scripts'].items()]},
)
