# redis-server 7 from Debian's packages, for machines that cannot pull `redis:7-alpine`
# (test/containers/base-images.ts builds it as taskmanager-local/redis:7). As in the official
# image: the working directory /data (where compose's volume keeps the append-only file), owned
# by the redis user the server runs as, and protected mode off (redis-entrypoint.sh), since the
# other containers reach it over the compose network.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends redis-server \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/redis-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]
CMD ["redis-server"]
