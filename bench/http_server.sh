#!/bin/sh
# The HTTP benchmarks' server: Debian's nginx (nginx-light) with one worker,
# its own configuration in a temporary directory, on a free 127.0.0.1 port,
# serving 1k (1 KiB), 100k (100 KiB) and 10m (10 MiB) files.
#
#   sh bench/http_server.sh COMMAND [ARG...]
#
# starts nginx, runs COMMAND with BENCH_HTTP_BASE=http://127.0.0.1:PORT in
# its environment, stops nginx and exits with COMMAND's status (2 when
# nginx cannot start).  Environment: NGINX (default /usr/sbin/nginx).
set -u
[ $# -ge 1 ] || { echo "usage: sh bench/http_server.sh COMMAND [ARG...]" >&2; exit 2; }
nginx=${NGINX:-/usr/sbin/nginx}
if [ ! -x "$nginx" ]; then
    echo "http_server.sh: $nginx not found: sudo apt-get install -y nginx-light" >&2
    exit 2
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-nginx.XXXXXX") || exit 2
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$dir/www" "$dir/tmp"
head -c 1024 /dev/urandom >"$dir/www/1k"
head -c 102400 /dev/urandom >"$dir/www/100k"
head -c 10485760 /dev/urandom >"$dir/www/10m"

# A free port: bind port 0 and read what the kernel chose (a race with
# another program is possible but harmless: nginx then fails to start and
# the next try takes another port).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

started=no
for try in 1 2 3 4 5; do
    port=$(free_port) || exit 2
    cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
    types { }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port;
        root $dir/www;
    }
}
CONF
    "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" 2>>"$dir/error.log" &
    pid=$!
    i=0
    while [ $i -lt 50 ]; do
        if curl -s -o /dev/null "http://127.0.0.1:$port/1k"; then started=yes; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    [ $started = yes ] && break
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
done
if [ $started != yes ]; then
    echo "http_server.sh: nginx did not start:" >&2
    cat "$dir/error.log" >&2
    exit 2
fi

BENCH_HTTP_BASE=http://127.0.0.1:$port "$@"
exit $?
