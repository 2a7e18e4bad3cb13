# Sourced by the other scripts: puts the project's Node 24, Go and tools first on PATH.
_sluice_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SLUICE_NODE_DIR="$_sluice_root/.tools/node"
export SLUICE_CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
export PATH="$SLUICE_NODE_DIR/bin:$_sluice_root/.tools/bin:$_sluice_root/node_modules/.bin:/usr/local/go/bin:$PATH"
# npm's own config on these machines names a nodedir for native builds; ours has none.
unset npm_config_nodedir
export npm_config_nodedir=""
