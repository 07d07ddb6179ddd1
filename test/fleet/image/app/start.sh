#!/bin/sh
# PID 1 of the sandbox app. Traps SIGTERM so `docker stop` is graceful and quick.
# A variant's log may hold its environment (as careless apps print theirs): Baton must mask secrets in it.
[ "$PRINT_ENV" = 1 ] && env >&2
[ "$CRASH" = 1 ] && { echo "app $VERSION: crashing at start, as built" >&2; exit 1; }
printf '%s\n' "$VERSION" > /www/index.html
[ "$HEALTH" = ok ] && printf 'ok %s\n' "$VERSION" > /www/health
mkfifo /tmp/log
# Every request line httpd writes goes to syslog through the /dev/log the host mounts in.
logger -t "app-$VERSION" < /tmp/log &
httpd -f -vv -p 8080 -h /www 2>/tmp/log &
pid=$!
trap 'kill -TERM "$pid"; wait "$pid"; exit 0' TERM INT
wait "$pid"
