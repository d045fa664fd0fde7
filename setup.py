"""ament_python package; also a plain pip-installable Python package (src layout)."""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'sorting_cell'

setup(
    name=PACKAGE,
    version='0.1.0',
    description='Sort unknown objects into N boxes by appearance (pretrained CNN features + '
                'clustering), with a ROS 2 cell and a simulated arm.',
    license='Apache-2.0',
    python_requires='>=3.10',
    # datasets/ (manifest + fetch/verify + loaders) ships as sorting_cell.datasets.
    package_dir={'': 'src', f'{PACKAGE}.datasets': 'datasets'},
    packages=find_packages('src') + [f'{PACKAGE}.datasets'],
    package_data={f'{PACKAGE}.datasets': ['*.yaml'], PACKAGE: ['**/*.yaml', '**/*.xml']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', [f for f in glob('config/*') if os.path.isfile(f)]),
        (f'share/{PACKAGE}/config/robots', glob('config/robots/*.yaml')),
    ],
    install_requires=[
        'numpy', 'opencv-python-headless', 'scikit-learn', 'scipy', 'scikit-image',
        'tqdm', 'pyyaml', 'ai-edge-litert',
    ],
    extras_require={
        'torch': ['torch', 'torchvision'],
        'sim': ['mujoco==4.0.0', 'mink==1.3.0', 'ompl==2.0.1', 'imageio'],
        'ros': ['rosbags'],
        'test': ['pytest'],
    },
    zip_safe=True,
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'sorting-cell = sorting_cell.cli:main',
            # ROS nodes: ``ros2 run sorting_cell <name>`` on a full install
            'camera = sorting_cell.nodes.camera:main',
            'proposals = sorting_cell.nodes.proposals:main',
            'clustering = sorting_cell.nodes.clustering:main',
            'sorter = sorting_cell.nodes.sorter:main',
            'sim = sorting_cell.nodes.sim:main',
            'cell_frames = sorting_cell.nodes.cell_frames:main',
            'replay = sorting_cell.nodes.replay:main',
            'recorder = sorting_cell.nodes.recorder:main',
            'monitor = sorting_cell.nodes.monitor:main',
        ],
    },
)
