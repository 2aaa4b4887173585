#!/usr/bin/env bash
# Put a newer Debian release's RabbitMQ (and its Erlang) into a prefix under the
# cache, without touching the system: used for the versions in versions.sh that
# are not this machine's own package (4.0.5 from Debian 13 "trixie").
#
#   1. A private apt configuration (sources list, state, cache, an empty dpkg
#      status) lives in CACHE/apt-SUITE: the system's apt sources and state are
#      neither read nor changed.
#   2. `apt-get download` fetches rabbitmq-server, the erlang-* packages it
#      depends on, and the suite's libc6, libssl3t64 and libzstd1: the newer
#      Erlang needs glibc >= 2.38 and OpenSSL >= 3.4, and Debian 12 has 2.36
#      and 3.0. `dpkg -x` unpacks them into the prefix.
#   3. Every ELF file under usr/lib/erlang gets the prefix's dynamic loader as
#      its interpreter and the prefix's library directory as its RPATH
#      (patchelf). LD_LIBRARY_PATH would do the same but leaks into every shell
#      the Erlang VM starts, where the system's programs would then load the
#      wrong libc.
#   4. ROOTDIR in the `erl` and `start` scripts points at the prefix.
#
# The prefix is complete when it holds `.complete` (written last, with the
# package versions); a second run exits at once. Concurrent runs wait on a lock,
# so one machine never extracts the same prefix twice at the same time.
# Measured here: about 25 s and 88 MB from nothing (download ~5 s, patchelf ~12 s).
#
# Usage: extract.sh VERSION   (needs apt-get, dpkg-deb, patchelf, flock)
# Environment: QSCALER_RABBITMQ_CACHE (default ~/.cache/qscaler-rabbitmq)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"

version=${1:?usage: extract.sh VERSION}
suite=$(rabbitmq_suite "$version") || { echo "no Debian suite known for RabbitMQ $version" >&2; exit 2; }
root=$(rabbitmq_root "$version")
if [[ -f $root/.complete ]]; then
  echo "RabbitMQ $version ($suite) cached in $root"
  exit 0
fi
cache=$(dirname "$root")
mkdir -p "$cache"
exec 9>"$cache/.lock-$version"
flock 9
if [[ -f $root/.complete ]]; then  # another run finished it while we waited
  echo "RabbitMQ $version ($suite) cached in $root"
  exit 0
fi
started=$(date +%s)

# --- 1. private apt --------------------------------------------------------------
apt=$cache/apt-$suite
mkdir -p "$apt"/{lists/partial,archives/partial,sources.list.d,preferences.d}
: >"$apt/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
  >"$apt/sources.list"
apt_options=(
  -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
  -o "Dir::Etc::Preferences=$apt/preferences" -o "Dir::Etc::PreferencesParts=$apt/preferences.d"
  -o "Dir::State=$apt" -o "Dir::State::Lists=$apt/lists" -o "Dir::State::status=$apt/status"
  -o "Dir::Cache=$apt" -o "Dir::Cache::Archives=$apt/archives"
  -o "APT::Sandbox::User=root" -q
)
apt-get "${apt_options[@]}" update >/dev/null

# --- 2. download and unpack --------------------------------------------------------
candidate=$(apt-cache "${apt_options[@]}" show rabbitmq-server | sed -n 's/^Version: //p' | head -1)
[[ $candidate == "$version"-* ]] || {
  echo "Debian $suite now has rabbitmq-server $candidate, not $version: update tests/rabbitmq/versions.sh" >&2
  exit 1
}
mapfile -t erlang < <(apt-cache "${apt_options[@]}" depends --recurse --no-recommends --no-suggests \
  --no-conflicts --no-breaks --no-replaces --no-enhances rabbitmq-server | grep -E '^erlang-[a-z0-9-]+$' | sort -u)
debs=$(mktemp -d "$cache/debs.XXXXXX")
tmp_root=$root.partial
rm -rf "$tmp_root"
trap 'rm -rf "$debs" "$tmp_root"' EXIT
(cd "$debs" && apt-get "${apt_options[@]}" download rabbitmq-server "${erlang[@]}" libc6 libssl3t64 libzstd1 >/dev/null)
mkdir -p "$tmp_root"
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$tmp_root"; done

# --- 3. patchelf: the prefix's loader and libraries, not the system's ---------------
libs=$root/usr/lib/x86_64-linux-gnu
while IFS= read -r -d '' file; do
  [[ $(head -c 4 "$file" | od -An -c | tr -d ' ') == 177ELF ]] || continue
  if patchelf --print-interpreter "$file" >/dev/null 2>&1; then
    patchelf --set-interpreter "$libs/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$libs" "$file"
  else
    patchelf --force-rpath --set-rpath "$libs" "$file"
  fi
done < <(find "$tmp_root/usr/lib/erlang" -type f -print0)

# --- 4. ROOTDIR ----------------------------------------------------------------------
for script in "$tmp_root"/usr/lib/erlang/bin/{erl,start} "$tmp_root"/usr/lib/erlang/erts-*/bin/{erl,start}; do
  [[ -f $script ]] && sed -i "s|ROOTDIR=/usr/lib/erlang\$|ROOTDIR=$root/usr/lib/erlang|" "$script"
done

for deb in "$debs"/*.deb; do dpkg-deb -f "$deb" Package Version | paste -sd' '; done >"$tmp_root/.complete"
rm -rf "$root"
mv "$tmp_root" "$root"
# The Erlang VM must start from the prefix (a path baked in above, so a moved
# prefix fails here rather than in a test).
PATH=$root/usr/lib/erlang/bin:$PATH erl -noshell -eval \
  'io:format("Erlang/OTP ~s, ~s~n", [erlang:system_info(otp_release), element(3, hd(crypto:info_lib()))]), halt().' ||
  { rm -rf "$root"; echo "the extracted Erlang VM does not start" >&2; exit 1; }
echo "RabbitMQ $version ($suite) extracted into $root in $(($(date +%s) - started)) s ($(du -sh "$root" | cut -f1))"
