#!/usr/bin/env bash
# colcon build of a workspace that holds this repository, plain and --symlink-install, with
# colcon and ROS 2 Jazzy from PyPI (the wheels in the venv stand in for /opt/ros/jazzy).
#   scripts/check_colcon.sh [VENV]      (default: $VIRTUAL_ENV, else ./.venv)
# What a full install does instead: `source /opt/ros/jazzy/setup.bash; colcon build`.
# Checks: both builds succeed; `sorting_cell` and `sorting_cell_interfaces` are found as
# sibling packages; the installed executables and share files are there; the installed
# package imports from the install space.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${1:-${VIRTUAL_ENV:-$ROOT/.venv}}
VENV=$(cd "$VENV" && pwd)
PY=$VENV/bin/python
COLCON_VERSION=0.3.0   # colcon-common-extensions

"$PY" -m pip show -q colcon-common-extensions 2>/dev/null \
  || "$PY" -m pip install -q --disable-pip-version-check "colcon-common-extensions==$COLCON_VERSION"
# The build wheels and standard-interface copies come with the interface build (setup.sh
# runs it); then the wheels' CMake files need the build machine's include paths rewritten,
# as build_interfaces.sh does (pip reinstalls of ROS wheels undo it).
if [ ! -d "$VENV/share/ament_cmake_ros" ] || [ ! -f "$VENV/share/tf2_msgs/package.xml" ]; then
  bash "$ROOT/scripts/build_interfaces.sh" "$VENV" >/dev/null
fi
PYINC=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NPINC=$("$PY" -c "import numpy; print(numpy.get_include())")
{ grep -rl /opt/python/cp311-cp311/ "$VENV/share" --include='*.cmake' 2>/dev/null || true; } | xargs -r sed -i \
  -e "s#/opt/python/cp311-cp311/include/python3.11#$PYINC#g" \
  -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#g"

WS=$(mktemp -d /tmp/sorting_cell_ws.XXXXXX)
trap 'rm -rf "$WS"' EXIT
mkdir -p "$WS/src/sorting_cell"
# The repository as checked out (tracked and untracked files, symlinks kept; no build output).
(cd "$ROOT" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) \
  | tar -x -C "$WS/src/sorting_cell"

export PATH="$VENV/bin:$PATH" CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV"
cd "$WS"
found=$(colcon list --names-only | sort | tr '\n' ' ')
[ "$found" = "sorting_cell sorting_cell_interfaces " ] \
  || { echo "check_colcon: colcon found [$found], expected sorting_cell sorting_cell_interfaces" >&2; exit 1; }

for mode in plain symlink; do
  rm -rf build install log
  args=(--cmake-args -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF)
  [ "$mode" = symlink ] && args=(--symlink-install "${args[@]}")
  if ! colcon build --event-handlers console_cohesion- summary- "${args[@]}" > "build-$mode.log" 2>&1; then
    echo "check_colcon: colcon build ($mode) failed:" >&2; tail -40 "build-$mode.log" >&2; exit 1
  fi
  for f in install/sorting_cell/lib/sorting_cell/sorter install/sorting_cell/lib/sorting_cell/cell_frames \
           install/sorting_cell/share/sorting_cell/package.xml \
           install/sorting_cell/share/sorting_cell/launch/robot.launch.py \
           install/sorting_cell/share/sorting_cell/config/robots/ur5e.yaml \
           install/sorting_cell_interfaces/share/sorting_cell_interfaces/package.xml; do
    [ -e "$f" ] || { echo "check_colcon: $mode build lacks $f" >&2; exit 1; }
  done
  # Import from the workspace the colcon way (local_setup puts it before the venv's
  # editable install of the source tree).
  (set +u; . install/local_setup.bash; cd / && "$PY" -c "
import sorting_cell, sorting_cell_interfaces.msg
from sorting_cell.datasets import manifest
assert sorting_cell.__file__.startswith('$WS'), sorting_cell.__file__
assert sorting_cell_interfaces.msg.__file__.startswith('$WS'), sorting_cell_interfaces.msg.__file__
assert 'tools' in str(manifest())
print('check_colcon: $mode build imports from', sorting_cell.__file__)") \
    || { echo "check_colcon: $mode install does not import" >&2; exit 1; }
done
echo "check_colcon: plain and --symlink-install builds pass"
