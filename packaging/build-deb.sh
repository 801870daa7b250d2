#!/usr/bin/env bash
# Builds the .deb packages dorahost and dorahost-dev into BUILD_DIR/packages.
#
#   packaging/build-deb.sh [BUILD_DIR]      (default: build-pkg)
#
# BUILD_DIR is configured as an installed system is laid out (prefix /usr,
# so /etc/dorahost and /usr/lib/dorahost/plugins are the paths compiled in
# and written in the installed config), Release, tests off, with Debian's
# compiler and linker hardening flags (dpkg-buildflags). Needs dpkg-dev
# (dpkg-shlibdeps computes Depends) and file: scripts/deps.sh installs them.
# Prints the paths of the two packages on stdout.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$DORA_ROOT"

BUILD_DIR="${1:-build-pkg}"
[[ "$BUILD_DIR" != build ]] || dora_die "build/ is the development tree; package from another folder"

for tool in cmake cpack dpkg-buildflags dpkg-shlibdeps file; do
    command -v "$tool" >/dev/null || dora_die "$tool not found: run scripts/deps.sh"
done

# The flags Debian builds its own packages with: -O2 -fstack-protector-strong
# -D_FORTIFY_SOURCE=2 -Wformat -Werror=format-security, -z relro -z now.
# Passed as cache values, so a reused BUILD_DIR gets them too.
flags() { DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1"; }
cppflags="$(flags CPPFLAGS)"
ldflags="$(flags LDFLAGS)"

dora_log "configuring $BUILD_DIR (Release, prefix /usr, tests off)"
cmake -S "$DORA_ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX=/usr -DDORA_BUILD_TESTS=OFF \
    -DCMAKE_C_FLAGS="$cppflags $(flags CFLAGS)" \
    -DCMAKE_CXX_FLAGS="$cppflags $(flags CXXFLAGS)" \
    -DCMAKE_EXE_LINKER_FLAGS="$ldflags" \
    -DCMAKE_SHARED_LINKER_FLAGS="$ldflags" \
    -DCMAKE_MODULE_LINKER_FLAGS="$ldflags" >&2
dora_log "building $BUILD_DIR with $(nproc) jobs"
cmake --build "$BUILD_DIR" -j"$(nproc)" >&2

rm -rf "$BUILD_DIR/packages"
dora_log "packaging (cpack -G DEB)"
(cd "$BUILD_DIR" && cpack -G DEB) >&2

shopt -s nullglob
debs=("$BUILD_DIR"/packages/*.deb)
((${#debs[@]} == 2)) || dora_die "expected 2 packages in $BUILD_DIR/packages, found ${#debs[@]}"
printf '%s\n' "${debs[@]}"
