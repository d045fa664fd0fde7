"""ROS 2 packaging: package.xml lists what the code imports, colcon finds the Python package
and the interfaces as siblings, and (slow) colcon builds them plain and --symlink-install."""
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_XML = ROOT / 'ros' / 'sorting_cell' / 'package.xml'


def _ros_packages_imported() -> set[str]:
    """Top-level modules imported by the package and launch files that are ROS packages
    (they have a package.xml in the environment's share/)."""
    names = set()
    for path in [*(ROOT / 'src' / 'sorting_cell').rglob('*.py'), *(ROOT / 'launch').glob('*.py')]:
        names |= set(re.findall(r'^\s*(?:from|import) ([a-z_0-9]+)', path.read_text(), re.M))
    share = Path(sys.prefix) / 'share'
    ros = {n for n in names if (share / n / 'package.xml').is_file()}
    # not installable from PyPI, but ROS packages all the same
    return ros | ({'launch', 'launch_ros', 'ament_index_python', 'moveit'} & names)


def test_package_xml_lists_every_ros_dependency():
    deps = {e.text for e in ET.parse(PACKAGE_XML).getroot()
            if e.tag in ('depend', 'exec_depend')}
    missing = _ros_packages_imported() - deps - {'sorting_cell', 'moveit'}
    assert not missing, f'{PACKAGE_XML} lacks exec_depend for {sorted(missing)}'
    assert {'tf2_msgs', 'visualization_msgs', 'sorting_cell_interfaces'} <= deps


def test_colcon_finds_both_packages_as_siblings(tmp_path):
    pytest.importorskip('colcon_core')
    ws = tmp_path / 'src'
    ws.mkdir()
    (ws / 'sorting_cell').symlink_to(ROOT)
    out = subprocess.run([str(Path(sys.executable).with_name('colcon')), 'list'], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    found = {line.split()[0]: line.split()[2] for line in out.splitlines() if line.strip()}
    assert found == {'sorting_cell': '(ros.ament_python)',
                     'sorting_cell_interfaces': '(ros.ament_cmake)'}, out


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_colcon_build_plain_and_symlink_install():
    """Minutes: two full colcon builds (interfaces code generation included)."""
    pytest.importorskip('colcon_core')
    run = subprocess.run(['bash', str(ROOT / 'scripts' / 'check_colcon.sh'), sys.prefix],
                         capture_output=True, text=True, timeout=1400)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'plain and --symlink-install builds pass' in run.stdout
