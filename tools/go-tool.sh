# Shared by the build scripts of the Go tools the tests use (tools/*/build.sh).
# Each tool is built once per machine into a cache directory outside the
# repository, keyed by name and version; all of them share the one Go module
# cache and build cache (`go env GOMODCACHE GOCACHE`), so a module that two
# tools need is downloaded and compiled once.
#
#   go_tool_cached NAME VERSION BINARY   exits 0 printing the path if built
#   go_tool_record DIR START             writes DIR/build-stats.txt

go_tool_dir() {
  echo "${QSCALER_TOOLS_CACHE:-$HOME/.cache/qscaler-tools}/$1-$2"
}

# Prints the cached binary's path and exits the calling script when present.
go_tool_cached() {
  local bin
  bin="$(go_tool_dir "$1" "$2")/$3"
  if [[ -x $bin ]]; then
    echo "$1 $2 cached in $(dirname "$bin")" >&2
    echo "$bin"
    exit 0
  fi
}

go_tool_record() {
  local dir=$1 start=$2 end
  end=$(date +%s)
  {
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores with $(go version)"
    echo "wall_seconds: $((end - start))"
    echo "binaries_bytes: $(du -sb "$dir" | cut -f1)"
  } >"$dir/build-stats.txt"
  cat "$dir/build-stats.txt" >&2
}
