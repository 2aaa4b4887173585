#!/usr/bin/env bash
# Build Docker Compose v2 (for the compose tests in tests/packaging) from Go
# modules and install it as a Docker CLI plugin. `go install` refuses the
# module (its go.mod has exclude directives), so the module is downloaded and
# built inside its own directory, where those directives apply.
# Cached outside the repository, keyed by version (see tools/go-tool.sh);
# prints the binary's path on its last line: the directory it is in
# is a CLI plugin directory (the tests name it in their DOCKER_CONFIG).
#
# Environment:
#   QSCALER_TOOLS_CACHE   cache root (default: $HOME/.cache/qscaler-tools)
#   COMPOSE_VERSION       github.com/docker/compose/v2 version (default below)
set -euo pipefail
source "$(dirname "$0")/../go-tool.sh"
version=${COMPOSE_VERSION:-v2.40.3}
go_tool_cached compose "$version" cli-plugins/docker-compose

dir=$(go_tool_dir compose "$version")
mkdir -p "$dir/cli-plugins"
echo "building docker compose $version into $dir (a cold build takes several minutes)" >&2
export GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
src=$(go mod download -json "github.com/docker/compose/v2@$version" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
(cd "$src" && go mod download &&
  go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$version" \
    -o "$dir/cli-plugins/docker-compose" ./cmd) >&2
go_tool_record "$dir" "$start"
echo "$dir/cli-plugins/docker-compose"
