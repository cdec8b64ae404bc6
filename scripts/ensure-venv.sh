#!/usr/bin/env bash
# Create the virtual environment $2 with interpreter $1, installing Debian's venv support if needed.
set -u
py=$1; venv=$2
[ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip --version >/dev/null 2>&1 && exit 0
rm -rf "$venv"
"$py" -m venv "$venv" 2>/dev/null && exit 0
rm -rf "$venv"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  ver=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  echo "installing Debian's python$ver-venv ..."
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$ver-venv" >/dev/null
  "$py" -m venv "$venv" && exit 0
fi
echo "cannot create $venv: install Python's venv module (sudo apt-get install python3-venv) and rerun" >&2
exit 1
