#!/usr/bin/env bash
# Make the demo data available: Fashion-MNIST from Debian's package dataset-fashion-mnist.
set -u
dir=/usr/share/datasets/fashion-mnist
if [ -n "${PRUNELAB_DATA:-}" ] && [ -f "$PRUNELAB_DATA/train-images-idx3-ubyte.gz" ]; then exit 0; fi
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=""; fi
  fi
  if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
    echo "installing Debian's dataset-fashion-mnist (Fashion-MNIST, MIT licence) ..."
    $SUDO apt-get update -qq >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
    [ -f "$dir/train-images-idx3-ubyte.gz" ] && exit 0
  fi
fi
cat >&2 <<MSG
Fashion-MNIST is missing. Install it with:
    sudo apt-get install dataset-fashion-mnist
or put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and
t10k-labels-idx1-ubyte.gz in a folder and set PRUNELAB_DATA=/that/folder.
MSG
exit 1
