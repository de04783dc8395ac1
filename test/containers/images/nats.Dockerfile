# nats-server from Debian's packages, for machines that cannot pull `nats:2.10-alpine`
# (test/containers/base-images.ts builds it as taskmanager-local/nats:2.10). The package comes from
# trixie: bookworm's nats-server is 2.9, which refuses configs/nats/nats.conf's `sync_interval`.
# Like the official image, the container's arguments go to nats-server (compose passes
# `-c /etc/nats/nats.conf`), and wget is there for compose's healthcheck.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# trixie is pinned low, so that nothing but nats-server comes from it (wget, libc and the rest
# stay bookworm's).
RUN echo 'deb http://deb.debian.org/debian trixie main' > /etc/apt/sources.list.d/trixie.list \
 && printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > /etc/apt/preferences.d/trixie \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends nats-server/trixie wget \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /etc/apt/sources.list.d/trixie.list /etc/apt/preferences.d/trixie
EXPOSE 4222 8222
ENTRYPOINT ["nats-server"]
