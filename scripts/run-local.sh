#!/usr/bin/env bash
# The main job: the sluice controller against the embedded local cluster.
# Starts (or reuses) a local control plane in .cache/local-cluster, installs
# sluice's CRDs, and runs the controller in the foreground until Ctrl-C.
# Flags after -- go to the controller (see `node src/main.ts --help`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/env.sh

dir="$root/.cache/local-cluster"
keep=false
if [ "${1:-}" = "--keep-cluster" ]; then keep=true; shift; fi
[ "${1:-}" = "--" ] && shift

if ! localcluster status --dir "$dir" >/dev/null 2>&1; then
  localcluster down --dir "$dir" >/dev/null 2>&1 || true
  echo "== starting the local cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok)"
  localcluster up --dir "$dir"
fi
kubeconfig="$dir/kubeconfig"
stop_cluster() {
  if [ "$keep" = false ]; then
    echo "== stopping the local cluster (pass --keep-cluster to keep it)"
    localcluster down --dir "$dir" >/dev/null
  fi
}
trap stop_cluster EXIT

echo "== installing sluice's CRDs"
localcluster kubectl --kubeconfig "$kubeconfig" apply --server-side --force-conflicts -f crds/ >/dev/null
localcluster kubectl --kubeconfig "$kubeconfig" wait --for=condition=Established --timeout=60s -f crds/ >/dev/null

echo "== running the sluice controller (Ctrl-C to stop); kubectl: KUBECONFIG=$kubeconfig localcluster kubectl get sluice -A"
node src/main.ts --kubeconfig "$kubeconfig" --health-address 127.0.0.1 "$@" || status=$?
exit "${status:-0}"
