# tidepool image: the CLI, node agent and controller (`tidepool ...`) plus the
# CNI plugin that `tidepool install-cni` copies onto each node.
#
#   docker build -t tidepool:0.1.0 .
#
# It runs as root by default because the agent cannot do otherwise: it
# shares the host's network namespace, stats other containers' namespaces
# under /var/run/netns and /proc, and writes the plugin into the host's
# /opt/cni/bin, and probes new addresses from inside pods' namespaces. The
# Helm chart keeps only the capabilities that needs for it, and runs the
# controller, which needs none of this, as UID 65532.

FROM node:20-bookworm AS build
WORKDIR /app
# Dependencies first, so source edits do not invalidate this layer. npm ci
# builds better-sqlite3 against this image's glibc, the runtime's as well.
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# The plugin runs on the host, which may have no node: ship it only as a
# self-contained executable, never as the build's node-script fallback.
RUN npm run build \
 && node -e "const r = require('./dist/cni/build-info.json').runtime; if (r === 'node') { console.error('dist/cni/tidepool is a node script; the image needs a self-contained plugin (bun build failed)'); process.exit(1); }" \
 && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# The agent probes addresses and gateways from the pod's link (nsenter from util-linux, ip, arping, ndisc6).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 iputils-arping ndisc6 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
# dist/tidepool.mjs (CLI, agent, controller) with the chunks it loads,
# dist/simulate.mjs (`tidepool simulate` only) and dist/cni/tidepool (the plugin).
COPY --from=build /app/dist ./dist
RUN printf '#!/bin/sh\nexec node /app/dist/tidepool.mjs "$@"\n' > /usr/local/bin/tidepool \
 && chmod 0755 /usr/local/bin/tidepool \
 && test -x /app/dist/cni/tidepool
ENTRYPOINT ["/usr/local/bin/tidepool"]
