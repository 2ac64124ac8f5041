#!/usr/bin/env bash
# System packages that some tests need (a headless browser, a database server, a speech
# synthesiser for spoken-digit test clips).
# Installed once per machine from Debian's packages; each test that needs one also
# checks for it and fails with a clear message if it is missing.
set -euo pipefail
need=()
for pair in "chromium:/usr/bin/chromium" "chromium-driver:/usr/bin/chromedriver" "postgresql:/usr/lib/postgresql" "espeak-ng:/usr/bin/espeak-ng"; do
  pkg=${pair%%:*}; path=${pair#*:}
  [ -e "$path" ] || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then echo "test-deps: missing ${need[*]} (run as root to install them)"; exit 0; fi
echo "test-deps: installing ${need[*]} from Debian"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
