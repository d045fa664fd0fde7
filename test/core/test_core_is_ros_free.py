"""The core must import and run where ROS is absent."""
import subprocess
import sys


def test_core_imports_without_rclpy():
    code = ('import sys; sys.modules["rclpy"] = None\n'
            'import sorting_cell, sorting_cell.pipeline, sorting_cell.regions, '
            'sorting_cell.features, sorting_cell.clustering, sorting_cell.datasets, '
            'sorting_cell.bench, sorting_cell.manipulation\n'
            'import pkgutil\n'
            'for m in pkgutil.walk_packages(sorting_cell.__path__, "sorting_cell."):\n'
            '    if ".nodes" in m.name or m.name.endswith("client"):\n'
            '        continue\n'
            '    __import__(m.name)\n'
            'print("ok")')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith('ok')
