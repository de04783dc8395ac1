# syntax=docker/dockerfile:1
# One image, `taskmanager:local`, for every process of Taskmanager. Each container starts its own
# bundle with exactly the local stack's command (scripts/local-stack.ts), for example
#   node --no-concurrent-recompilation --min-semi-space-size=2 --require /app/dist/telemetry.cjs /app/dist/functions/worker.cjs
# docker-compose.yml, k8s/ and knative/ set that command per process; test/deploy/ checks that
# every command names a bundle this image contains.
#
#   docker build -t taskmanager:local .
#
# NODE_IMAGE: the official Node 24 image by default; a machine without a registry passes a
# locally built one (`--build-arg NODE_IMAGE=…`, compose reads it from the environment).
ARG NODE_IMAGE=node:24-slim

# ---- build: the esbuild bundles and the runtime node_modules ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# --ignore-scripts: the `node` devDependency's install script would download a second Node
# binary; the image's own Node 24 runs the build. esbuild needs no script (its binary is an
# optional dependency), and no runtime package has a native build step.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# bench and start are the developer's tools (start spawns redis-server and nats-server); the
# image keeps only the deployable bundles and the `tm` client. Then node_modules is cut down to
# the packages the bundles leave external (scripts/build.mjs) and what those need. Last, V8's
# compile cache is filled for every bundle where it will run (/app/dist), so that every container,
# a Knative pod scaled from zero too, starts from compiled code (scripts/warm-compile-cache.ts).
RUN npm run build \
 && rm -f dist/bench.cjs dist/bench.cjs.map dist/start.cjs dist/start.cjs.map \
 && node scripts/runtime-deps.ts prune /app @grpc/grpc-js grpc-health-check @grpc/reflection \
 && node scripts/warm-compile-cache.ts /app/dist /app/dist/compile-cache

# ---- runtime ----
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# Every process listens on all interfaces in a container: compose, Kubernetes probes and Services
# reach it at the container's address. (Without HOST the code binds 127.0.0.1, for `npm start`.)
ENV HOST=0.0.0.0
# V8 heap settings that keep each process's memory bounded (shared/topology.ts NODE_MEMORY_OPTIONS).
ENV NODE_OPTIONS="--max-semi-space-size=2 --max-old-space-size=128"
# Two glibc malloc arenas instead of one per thread (shared/topology.ts NODE_MALLOC_ARENA_MAX).
ENV MALLOC_ARENA_MAX=2
# The compile cache the build filled (read-only at run time: what a process cannot save is skipped).
ENV NODE_COMPILE_CACHE=/app/dist/compile-cache
WORKDIR /app
# Owned by root and read-only for the process: nothing in /app is written at run time.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The `node` user of the official image (uid 1000).
USER node
EXPOSE 50051
CMD ["node", "--no-concurrent-recompilation", "--min-semi-space-size=2", "--require", "/app/dist/telemetry.cjs", "/app/dist/gateway.cjs"]
