#!/usr/bin/env bash
# The main job: sluice against the embedded local cluster. Starts (or reuses)
# a local control plane in .cache/local-cluster, installs the CRDs, and runs
# the end-to-end demo (scripts/demo.ts): Git → Sync → canary rollout gated by
# Prometheus → promotion, then a bad version rolled back, with chat messages.
#   --controller-only   run just the controller in the foreground until Ctrl-C
#                       (flags after -- go to it; see `node src/main.ts --help`)
#   --keep-cluster      leave the local cluster running afterwards
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/env.sh

dir="$root/.cache/local-cluster"
keep=false
controller_only=false
while [ $# -gt 0 ]; do
  case "$1" in
    --keep-cluster) keep=true; shift ;;
    --controller-only) controller_only=true; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done

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

echo "== installing sluice's CRDs and the Istio and Gateway API CRDs"
for crds in crds/ .tools/crds/istio.yaml .tools/crds/gateway-api-httproutes.yaml; do
  localcluster kubectl --kubeconfig "$kubeconfig" apply --server-side --force-conflicts -f "$crds" >/dev/null
  localcluster kubectl --kubeconfig "$kubeconfig" wait --for=condition=Established --timeout=60s -f "$crds" >/dev/null
done

if [ "$controller_only" = false ]; then
  echo "== demo: Git → Sync → canary rollout gated by Prometheus → promotion, then a rollback"
  node scripts/demo.ts --kubeconfig "$kubeconfig" || status=$?
  exit "${status:-0}"
fi

echo "== running the sluice controller (Ctrl-C to stop); kubectl: KUBECONFIG=$kubeconfig localcluster kubectl get sluice -A"
node src/main.ts --kubeconfig "$kubeconfig" --health-address 127.0.0.1 "$@" || status=$?
exit "${status:-0}"
