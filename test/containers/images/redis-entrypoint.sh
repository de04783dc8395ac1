#!/bin/sh
# Debian's redis-server keeps protected mode on when it runs without a config file, and then
# refuses every client that is not on loopback. The official image's build turns that default
# off; this does the same for a `redis-server …` command.
set -e
if [ "$1" = redis-server ]; then
  shift
  exec redis-server "$@" --protected-mode no
fi
exec "$@"
