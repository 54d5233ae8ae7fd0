#!/usr/bin/env bash
# The example pipelines' steps on this machine (as root, galera-ha-lab installed): image cache
# keyed by the spec's hash (docker save/load), the smoke selection on the fast profile, JUnit +
# Markdown report + results into $OUT, the previous run's results as the baseline.
#   SPEC=lab.yaml OUT=results examples/ci/run-pipeline-locally.sh
# OFFICIAL=1 builds on the official images (debian, mariadb) as the hosted pipelines do; without
# a registry leave it unset: the lab builds its images from Debian's mirror.
set -euo pipefail
SPEC=${SPEC:-lab.yaml}
OUT=${OUT:-results}
IMAGE_CACHE=${IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/galera-lab-images}
SCENARIOS=${SCENARIOS:-smoke}
PROJECT=${PROJECT:-chaos-lab}   # another lab on this machine? PROJECT=ci-lab SUBNET=198.18.90.0/23 HTTP_PORT=18190
set_args=()
[ "${OFFICIAL:-}" = 1 ] && set_args=(--set galera.source=official)
iso_args=(--project "$PROJECT")
[ -n "${SUBNET:-}" ] && iso_args+=(--subnet "$SUBNET")
[ -n "${HTTP_PORT:-}" ] && iso_args+=(--http-port "$HTTP_PORT")

command -v galera-lab >/dev/null || { echo "galera-lab is not installed (pip install galera-ha-lab)"; exit 2; }
for tool in docker ip nsenter iptables; do
  command -v "$tool" >/dev/null || { echo "missing $tool: install docker.io iproute2 util-linux iptables"; exit 2; }
done
docker compose version >/dev/null

version=$(python3 -c 'import importlib.metadata as m; print(m.version("galera-ha-lab"))' 2>/dev/null || echo dev)
key="galera-lab-images-${version}-$(sha256sum "$SPEC" | cut -c1-16)${OFFICIAL:+-official}"
tarball="$IMAGE_CACHE/$key.tar"
if [ -f "$tarball" ]; then
  echo "images: loading the cache $tarball"
  docker load -i "$tarball" >/dev/null
else
  if [ "${OFFICIAL:-}" = 1 ]; then
    docker pull debian:bookworm && docker tag debian:bookworm galera-lab/debian:bookworm
  fi
  galera-lab images --spec "$SPEC" "${set_args[@]}"
  mkdir -p "$IMAGE_CACHE"
  docker save -o "$tarball" $(docker images 'galera-lab/*' --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>')
  echo "images: cached as $tarball"
fi

baseline=()
if [ -f "$OUT/results.json" ]; then
  mkdir -p "$OUT.baseline" && cp "$OUT/results.json" "$OUT.baseline/results.json"
  baseline=(--baseline "$OUT.baseline/results.json")
fi
mkdir -p "$OUT"
status=0
galera-lab chaos --spec "$SPEC" "${set_args[@]}" "${iso_args[@]}" --profile fast --scenarios "$SCENARIOS" \
  --junit "$OUT/junit.xml" --results "$OUT/results.json" --report "$OUT/report.md" "${baseline[@]}" || status=$?
galera-lab down --volumes --project "$PROJECT" >/dev/null 2>&1 || true
echo "artifacts: $OUT/junit.xml $OUT/report.md $OUT/results.json (exit $status)"
exit "$status"
