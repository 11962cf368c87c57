#!/usr/bin/env bash
# Fetch (once, cached) what the aarch64 check needs: Debian's qemu-user-static (amd64) and Debian's
# arm64 python3.11 with its libraries, unpacked with dpkg-deb (no root, no binfmt, no containers).
# Sourced by .ci/aarch64, which reads CACHE, QEMU and ROOT from it.
set -euo pipefail

CACHE=${EDGERNN_AARCH64_CACHE:-$HOME/.cache/edgernn-aarch64}
SUITE=bookworm  # Debian 12: python3.11, qemu 7.2 (the ARM /proc/cpuinfo below is needed before 8.2)
ROOT=$CACHE/rootfs
QEMU=$CACHE/qemu/usr/bin/qemu-aarch64-static
ARM_PACKAGES=(python3.11 libstdc++6)  # onnxruntime needs libstdc++6; python3.11 does not pull it in

no_network() {
  echo "error: aarch64 check: could not download $1 (is deb.debian.org reachable? this needs the network once); nothing is cached for it in $CACHE" >&2
  exit 1
}

apt_setup() {
  local apt=$CACHE/apt
  mkdir -p "$apt"/etc/apt/{sources.list.d,preferences.d,apt.conf.d} "$apt"/var/lib/apt/lists/partial \
    "$apt"/var/cache/apt/archives/partial "$apt"/var/lib/dpkg
  : >"$apt/var/lib/dpkg/status"
  cat >"$apt/etc/apt/sources.list" <<SOURCES
deb [arch=arm64,amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main
deb [arch=arm64,amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $SUITE-security main
SOURCES
  cat >"$apt/apt.conf" <<CONF
Dir "$apt/";
Dir::State "$apt/var/lib/apt/";
Dir::State::status "$apt/var/lib/dpkg/status";
Dir::Etc "$apt/etc/apt/";
Dir::Cache "$apt/var/cache/apt/";
APT::Architecture "arm64";
APT::Architectures { "arm64"; "amd64"; };
APT::Install-Recommends "false";
Debug::NoLocking "true";
CONF
  export APT_CONFIG=$apt/apt.conf
  apt-get -qq update >"$CACHE/apt-update.log" 2>&1 || no_network "Debian's package lists ($SUITE)"
}

fetch_qemu() {
  [ -x "$QEMU" ] && return
  (cd "$CACHE/debs" && apt-get -qq download qemu-user-static:amd64) >/dev/null 2>&1 || no_network qemu-user-static
  rm -rf "$CACHE/qemu" && dpkg-deb -x "$CACHE"/debs/qemu-user-static_*_amd64.deb "$CACHE/qemu"
  find "$CACHE/qemu" -type f ! -name qemu-aarch64-static -delete  # 13 of its 370 MiB are needed
}

fetch_rootfs() {
  [ -x "$ROOT/usr/bin/python3.11" ] && [ -f "$ROOT/.complete" ] && return
  local archives=$CACHE/apt/var/cache/apt/archives
  apt-get -qq install --download-only -y "${ARM_PACKAGES[@]/%/:arm64}" >"$CACHE/apt-install.log" 2>&1 \
    || no_network "arm64 ${ARM_PACKAGES[*]} and their libraries"
  rm -rf "$ROOT.tmp" && mkdir -p "$ROOT.tmp"
  for deb in "$archives"/*_arm64.deb "$archives"/*_all.deb; do
    [ -e "$deb" ] && dpkg-deb -x "$deb" "$ROOT.tmp"
  done
  # QEMU < 8.2 shows the host's x86 /proc/cpuinfo, and onnxruntime's cpuinfo then crashes on import;
  # with -L ROOT qemu opens ROOT/proc/cpuinfo instead: a Cortex-A72's (a real file, not a link).
  mkdir -p "$ROOT.tmp/proc"
  for core in 0 1 2 3; do
    printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$core"
  done >"$ROOT.tmp/proc/cpuinfo"
  touch "$ROOT.tmp/.complete"
  rm -rf "$ROOT" && mv "$ROOT.tmp" "$ROOT"
}

mkdir -p "$CACHE/debs"
if [ ! -x "$QEMU" ] || [ ! -f "$ROOT/.complete" ]; then
  apt_setup
  fetch_qemu
  fetch_rootfs
fi
