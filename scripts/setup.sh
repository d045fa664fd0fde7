#!/usr/bin/env bash
# Set up everything sorting_cell needs, from nothing, into ./.venv (idempotent).
# Usage: scripts/setup.sh            (VENV=path to use another venv)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

# Headless OpenGL (EGL/OSMesa) for MuJoCo's offscreen renderer; Debian's Chromium and its
# WebDriver for the operator page's browser test (pytest -m browser).
need=()
for pkg in libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libosmesa6 chromium chromium-driver; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "[setup] apt-get install ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "[setup] missing system packages (run as root to install): ${need[*]}" >&2
  fi
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
echo "[setup] pip install requirements into $VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt 2>&1 | grep -v '^WARNING: Location' || true
# robosuite only for its robot model files (UR5e, Panda hand); it is never imported.
"$VENV/bin/pip" install -q --no-deps robosuite==1.5.2 2>&1 | grep -v '^WARNING: Location' || true
"$VENV/bin/pip" install -q --no-deps -e . 2>&1 | grep -v '^WARNING: Location' || true
"$VENV/bin/python" -c 'import sorting_cell, torch, torchvision, cv2, sklearn, ai_edge_litert' \
  || { echo '[setup] core imports failed' >&2; exit 1; }

if [ -f scripts/build_interfaces.sh ]; then
  echo "[setup] build ROS interfaces into $VENV"
  bash scripts/build_interfaces.sh "$VENV"
fi
echo "[setup] done: activate with '. $VENV/bin/activate'"
