#!/usr/bin/env sh
# Install a desktop entry and icon for this checkout's ftstudio, for the current user.
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
exe="$root/.venv/bin/ftstudio"
[ -x "$exe" ] || { echo "ftstudio is not installed in $root/.venv: run the README's first Quick start command." >&2; exit 2; }
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps"
mkdir -p "$apps" "$icons"
cp "$root/resources/icon.svg" "$icons/ftstudio.svg"
sed "s|^Exec=.*|Exec=$exe|" "$root/resources/ftstudio.desktop" > "$apps/ftstudio.desktop"
echo "Installed $apps/ftstudio.desktop"
