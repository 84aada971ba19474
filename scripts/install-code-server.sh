#!/usr/bin/env bash
# Installs code-server (a real VS Code workbench served over HTTP) into a cache
# outside the repo, for the end-to-end tests and `npm start`.
#
# Why not a plain `npm install -g code-server`: its postinstall downloads
# ripgrep from GitHub and one dependency is pinned to a git+ssh URL, so it only
# works with full internet access. This recipe needs just the npm registry and
# the distro's package manager.
#
# Idempotent: a marker file is written last; if it is present we do nothing.
# Prints the path of the `code-server` executable, and nothing else, on stdout.
#
#   FREEZELENS_CACHE   cache root (default: ~/.cache/freezelens)
set -euo pipefail

VERSION=4.96.4
CACHE="${FREEZELENS_CACHE:-$HOME/.cache/freezelens}"
DIR="$CACHE/code-server-$VERSION"
MARKER="$DIR/.install-complete"
ENTRY="$DIR/node_modules/.bin/code-server"

# stdout carries only the final path (callers read it); everything else,
# npm's output included, goes to stderr.
exec 3>&1 1>&2
log() { echo "[install-code-server] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- system packages --------------------------------------------------------
# chromium drives the workbench, ripgrep replaces the binary VS Code would
# download, libkrb5-dev is needed to compile the `kerberos` native module.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
if command -v dpkg-query >/dev/null 2>&1; then
  dpkg-query -W -f='${Status}' libkrb5-dev 2>/dev/null | grep -q 'ok installed' || missing+=(libkrb5-dev)
fi
if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null 2>&1; then
    log "WARNING: apt-get not found; please install manually: ${missing[*]}"
  else
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${missing[*]}"
      SUDO="sudo"
    fi
    log "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Only refresh the package lists when they do not know the packages yet.
    if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
      log "package lists look stale; running apt-get update"
      $SUDO apt-get update
      $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
    fi
  fi
fi
RG="$(command -v rg || true)"
[ -n "$RG" ] || die "ripgrep (rg) is required"

# --- code-server ------------------------------------------------------------
if [ -f "$MARKER" ] && [ -x "$ENTRY" ]; then
  log "code-server $VERSION already installed in $DIR"
  echo "$ENTRY" >&3
  exit 0
fi

major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" = 20 ] || die "code-server $VERSION needs Node 20 (found $(node -v)); its native modules are built against it"
for tool in python3 make g++; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required to build native modules"
done

mkdir -p "$CACHE"
# Two concurrent installs (e.g. `npm start` and the e2e test) must not
# interleave in the same directory.
exec 9>"$CACHE/.code-server-$VERSION.lock"
if command -v flock >/dev/null 2>&1; then
  flock -n 9 || { log "another install is running; waiting for it"; flock 9; }
  if [ -f "$MARKER" ] && [ -x "$ENTRY" ]; then
    log "installed by a concurrent run"
    echo "$ENTRY" >&3
    exit 0
  fi
fi

start=$SECONDS
# A leftover directory without the marker is a half-finished install.
rm -rf "$DIR"
mkdir -p "$DIR"
cd "$DIR"
echo '{ "name": "freezelens-code-server", "private": true }' > package.json

# npm's output is noisy; keep a log for when something fails.
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
export npm_config_loglevel=warn

log "1/7 npm install code-server@$VERSION (scripts skipped: postinstall needs GitHub)"
npm install --ignore-scripts "code-server@$VERSION"

CS="$DIR/node_modules/code-server"
VS="$CS/lib/vscode"

log "2/7 building argon2 (password hashing; loaded at startup even with --auth none)"
npm rebuild argon2

log "3/7 repointing @vscode/proxy-agent from a GitHub commit to the registry tarball"
tarball="$(npm view @vscode/proxy-agent@0.27.0 dist.tarball)"
[ -n "$tarball" ] || die "could not resolve @vscode/proxy-agent@0.27.0"
TARBALL="$tarball" node -e '
  const fs = require("fs");
  const file = process.argv[1];
  const lock = JSON.parse(fs.readFileSync(file, "utf8"));
  const entry = lock.packages["node_modules/@vscode/proxy-agent"];
  if (!entry) throw new Error("@vscode/proxy-agent not found in " + file);
  entry.resolved = process.env.TARBALL;
  // The integrity hash belongs to the git build, not the registry tarball.
  delete entry.integrity;
  fs.writeFileSync(file, JSON.stringify(lock, null, 2) + "\n");
' "$VS/npm-shrinkwrap.json"

log "4/7 npm install in lib/vscode (scripts skipped: @vscode/ripgrep would download from GitHub)"
(cd "$VS" && npm install --omit=dev --ignore-scripts)

log "5/7 building VS Code's native modules"
(cd "$VS" && npm rebuild node-pty @vscode/spdlog native-watchdog kerberos @parcel/watcher)

log "6/7 using the system ripgrep ($RG)"
mkdir -p "$VS/node_modules/@vscode/ripgrep/bin"
ln -sf "$RG" "$VS/node_modules/@vscode/ripgrep/bin/rg"

log "7/7 postinstall links and built-in extension dependencies"
# Mirrors code-server's postinstall.sh (vscode_install), minus the npm install
# we already did.
(
  cd "$VS"
  rm -rf node_modules.asar && ln -s node_modules node_modules.asar
  (cd bin/remote-cli && rm -f code-server && ln -s code-linux.sh code-server)
  (cd bin/helpers && rm -f browser.sh && ln -s browser-linux.sh browser.sh)
  cd extensions && npm install --omit=dev
)

# Smoke test: a native module that failed to build would otherwise surface
# much later, as an extension host that never starts.
(cd "$CS" && node -e 'require("argon2")') || die "argon2 does not load"
(cd "$VS" && node -e '
  for (const m of ["node-pty", "@vscode/spdlog", "native-watchdog", "kerberos", "@parcel/watcher"]) require(m);
') || die "a native module of VS Code does not load"
"$ENTRY" --version >/dev/null || die "code-server does not start"

touch "$MARKER"
log "done in $((SECONDS - start))s: $DIR"
echo "$ENTRY" >&3
