#!/usr/bin/env bash
# Make sure PostgreSQL's server binaries are there: the test suite starts a throw-away server of
# its own (tests/fixtures/postgres.py) to run the work-queue contract on PostgreSQL too.
#   1. already installed: Debian's /usr/lib/postgresql/<version>/bin/initdb, or initdb on PATH
#   2. Debian/Ubuntu and root: apt-get install postgresql (creates the unprivileged `postgres`
#      user the test server runs as: PostgreSQL refuses to run as root)
#   3. otherwise say what to install; the PostgreSQL tests will fail and say why
set -euo pipefail

found=""
for bin in /usr/lib/postgresql/*/bin; do
    [ -x "$bin/initdb" ] && found="$bin"
done
if [ -z "$found" ] && command -v initdb >/dev/null; then
    found=$(dirname "$(command -v initdb)")
fi

if [ -n "$found" ]; then
    echo "PostgreSQL: $found (system)"
elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "PostgreSQL: installing Debian's postgresql package…"
    apt-get update -qq
    # The package also sets up a cluster of its own (port 5432); the tests do not use it, they
    # start theirs in a temporary folder.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    for bin in /usr/lib/postgresql/*/bin; do
        [ -x "$bin/initdb" ] && found="$bin"
    done
    echo "PostgreSQL: ${found:-?} (system, just installed)"
else
    echo "PostgreSQL: not found. Install the server (Debian: sudo apt-get install postgresql);" \
        "the PostgreSQL queue tests need initdb and pg_ctl." >&2
fi
