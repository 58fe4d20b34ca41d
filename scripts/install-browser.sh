#!/usr/bin/env bash
# Debian's chromium, for the browser tests of the web page (tests/test_page.py drives it with Playwright through
# executable_path; `playwright install` downloads browsers of its own, which this project does not). Idempotent;
# where it cannot install (no apt-get, not root) it says so and exits 0: the browser tests then skip with a reason.
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium present: $(command -v chromium)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no apt-get here: install chromium yourself (the browser tests skip without it)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "not root and no sudo: cannot install chromium (the browser tests skip without it)" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null; then
  echo "installed chromium: $(command -v chromium)"
else
  echo "apt-get could not install chromium (the browser tests skip without it)" >&2
fi
exit 0
