#!/usr/bin/env bash
# Make sure a Chromium is available to Playwright, in this order:
#   1. a system Chromium already installed (what bot/browser.py finds: ICOPE_BOT_CHROMIUM or PATH)
#   2. Debian/Ubuntu and root: apt-get install chromium (plus dovecot-imapd for the mail tests)
#   3. otherwise Playwright's own build: playwright install chromium
# and, beside a system Chromium on Debian as root, its headless shell (chromium-headless-shell):
# what headless runs use when it is there, the browser process's CPU halved (Playwright's own
# build brings its headless shell with it).
set -euo pipefail
venv_bin="${1:-.venv/bin}"

found=$("$venv_bin/python" -c 'from bot.browser import find_chromium; print(find_chromium() or "")')
if [ -n "$found" ]; then
    echo "Chromium: $found (system)"
elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Chromium: installing Debian's chromium package…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    echo "Chromium: $(command -v chromium) (system, just installed)"
    found=$(command -v chromium)
else
    echo "Chromium: no system Chromium; downloading Playwright's build…"
    "$venv_bin/playwright" install chromium
fi

if [ -n "$found" ] && [ -z "${ICOPE_BOT_CHROMIUM:-}" ] \
    && ! command -v chromium-headless-shell >/dev/null \
    && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Chromium: installing Debian's chromium-headless-shell for headless runs…"
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null \
        || { apt-get update -qq \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell \
                >/dev/null; }; then
        echo "Chromium: $(command -v chromium-headless-shell) (headless runs)"
    else
        echo "Chromium: no headless shell here; headless runs use $found"
    fi
fi
headless=$("$venv_bin/python" -c \
    'from bot.browser import find_chromium; print(find_chromium(headless=True) or "")')
if [ -n "$headless" ] && [ "$headless" != "$found" ]; then
    echo "Chromium, headless runs: $headless"
fi

# The one-time-code tests serve a real IMAP mailbox: Debian's dovecot when it can be installed,
# otherwise the pure-Python pymap from the venv.
if ! command -v dovecot >/dev/null && [ ! -x /usr/sbin/dovecot ] \
    && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "IMAP: installing dovecot-imapd for the mail tests…"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null || \
        echo "IMAP: dovecot unavailable, the tests will use pymap"
fi
