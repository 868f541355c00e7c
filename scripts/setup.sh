#!/usr/bin/env bash
# Installs what tidepool needs on a fresh Debian machine: the CNI reference
# plugins and iproute2 (for the real-namespace tests and the standalone
# walkthrough), iputils-arping and ndisc6 (the agent probes addresses and
# gateways with them, docs/adr/0010-probing-addresses.md), Prometheus and
# promtool (the monitoring tests), then the npm dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/macvlan ] && [ -x /usr/lib/cni/host-local ] || need+=(containernetworking-plugins)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# test/state-permissions.test.ts probes the state files as another user with these.
[ -x /usr/bin/sqlite3 ] || need+=(sqlite3)
[ -x /usr/bin/python3 ] || need+=(python3)
# iputils' arping, not the arping package (which conflicts with it and takes other options).
[ -x /usr/bin/arping ] && /usr/bin/arping -V 2>&1 | grep -q iputils || need+=(iputils-arping)
command -v ndisc6 >/dev/null 2>&1 || need+=(ndisc6)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
# test/systemd-unit.test.ts checks deploy/systemd/tidepool-agent.service with systemd-analyze verify.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# The monitoring tests judge the alert rules with promtool and load them, with the dashboard's queries, into a
# real Prometheus (test/prometheus*.test.ts), run by the tests on free ports: the package's own service is not used.
[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || need+=(prometheus)
# test/apiserver/python-client.test.ts drives the test API server with the official Python client.
/usr/bin/python3 -c 'import kubernetes' >/dev/null 2>&1 || need+=(python3-kubernetes)
# The kubectl tests use the kubectl on PATH; Debian's package only when there is none,
# since it conflicts with a kubectl installed from Kubernetes' own packages.
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root to install ${need[*]} (run: sudo scripts/setup.sh)" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# package.json's allowScripts lets better-sqlite3 (native build), esbuild and bun run their install scripts.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
