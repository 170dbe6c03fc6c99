#!/bin/sh
# balctl-agent.sh: install, enrol, re-install or remove the balctl agent on this host.
# Run as root from the extracted agent.zip (it sits next to balctl-heartbeat, the unit and the
# env example). Idempotent: a second identical run rewrites nothing and says "nothing changed".
#
# BALCTL_ROOT (default empty) prefixes every path this script reads or writes on the host, so
# tests can install into a throwaway root. systemctl is still called by name from PATH (tests
# put a fake one first); systemd counts as running when $BALCTL_ROOT/run/systemd/system exists
# (what sd_booted() checks), so in a container without systemd nothing is started.
set -eu

PROG=balctl-agent
UNIT_NAME=balctl-heartbeat.service
ROOT=${BALCTL_ROOT:-}
ROOT=${ROOT%/}

BIN="$ROOT/usr/local/bin/balctl-heartbeat"
UNIT="$ROOT/etc/systemd/system/$UNIT_NAME"
CONF_DIR="$ROOT/etc/balctl"
ENV_FILE="$CONF_DIR/agent.env"
CA="$CONF_DIR/ca.pem"
STATE_DIR="$ROOT/var/lib/balctl"
# What agent.env says, read by the agent on the real system (never the prefixed path).
CA_ON_HOST=/etc/balctl/ca.pem

usage() {
    cat <<'EOF'
usage: BALCTL_ENROLLMENT_SECRET=KEY sh balctl-agent.sh [--enrol --hostname NAME --api-base https://…
                           [--ca-file PEM] [--update-pubkey BASE64] [--update-url https://…]]
                          [--no-start]
       sh balctl-agent.sh --uninstall [--purge]

Installs /usr/local/bin/balctl-heartbeat and balctl-heartbeat.service, then enables and starts
the service. Run as root from the directory agent.zip was extracted to.

  --enrol            write /etc/balctl/agent.env (mode 600) from the values below, keeping any
                     other setting already in it
  BALCTL_ENROLLMENT_SECRET (environment)
                     the member's 48-hex enrollment secret: from the environment, so it never
                     shows on a command line other users can read in /proc (--key KEY still
                     works, but exposes it there)
  --hostname NAME    the member's host name
  --api-base URL     the control plane's https:// origin
  --ca-file PEM      trust this CA for the control plane (copied to /etc/balctl/ca.pem)
  --update-pubkey B  base64 Ed25519 key that signs agent updates (pinned in agent.env)
  --update-url URL   where updates are downloaded (default <api-base>/agent/agent.zip)
  --no-start         install and enable, but do not start or restart the service
  --uninstall        stop and remove the agent; keeps /etc/balctl (agent.env, ca.pem)
  --purge            with --uninstall: remove /etc/balctl too
  -h, --help         this text

Without --enrol an existing agent.env is kept; a first install without it gets a copy of
balctl-heartbeat.env.example to fill in, and the service is not started.
EOF
}

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# The temp file being filled, removed if we stop half-way (never a fixed name: mktemp, beside
# its target so that the final mv is a rename on the same file system).
tmp="" staged=""
trap 'rm -f ${tmp:+"$tmp"} ${staged:+"$staged"}' EXIT
trap 'exit 1' HUP INT TERM

# --- arguments --------------------------------------------------------------------------------
enrol=0 uninstall=0 purge=0 no_start=0
key=${BALCTL_ENROLLMENT_SECRET:-} hostname="" api_base="" ca_file="" update_pubkey="" update_url=""
while [ "$#" -gt 0 ]; do
    opt=$1; shift
    case $opt in
        --key|--hostname|--api-base|--ca-file|--update-pubkey|--update-url)
            [ "$#" -gt 0 ] || die "$opt needs a value"
            case $opt in
                --key) key=$1 ;;
                --hostname) hostname=$1 ;;
                --api-base) api_base=$1 ;;
                --ca-file) ca_file=$1 ;;
                --update-pubkey) update_pubkey=$1 ;;
                --update-url) update_url=$1 ;;
            esac
            shift ;;
        --enrol|--enroll) enrol=1 ;;
        --uninstall) uninstall=1 ;;
        --purge) purge=1 ;;
        --no-start) no_start=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option $opt (see --help)" ;;
    esac
done

if [ "$uninstall" = 1 ]; then
    [ "$enrol" = 0 ] || die "--uninstall and --enrol do not go together"
elif [ "$purge" = 1 ]; then
    die "--purge only goes with --uninstall"
fi
if [ "$enrol" = 1 ]; then
    if [ -z "$key" ] || [ -z "$hostname" ] || [ -z "$api_base" ]; then
        die "--enrol needs BALCTL_ENROLLMENT_SECRET (or --key), --hostname and --api-base"
    fi
    if [ -n "$ca_file" ]; then
        [ -f "$ca_file" ] || die "--ca-file $ca_file: no such file"
        grep -q -- '-----BEGIN CERTIFICATE-----' "$ca_file" ||
            die "--ca-file $ca_file holds no PEM certificate"
    fi
elif [ -n "$hostname$api_base$ca_file$update_pubkey$update_url" ]; then
    die "--key, --hostname, --api-base, --ca-file, --update-pubkey and --update-url need --enrol"
fi
[ "$(id -u)" = 0 ] || die "run as root (sudo sh $0 …)"
umask 022

changed=0        # anything on the host changed (else: "nothing changed")
restart=0        # binary, unit, agent.env or CA changed: a running agent must restart
unit_changed=0   # systemd must reload its units

systemd_up() {
    have systemctl && [ -d "$ROOT/run/systemd/system" ]
}

# --- helpers ----------------------------------------------------------------------------------

# Give PATH mode MODE (as stat prints it: 600, 755 …) and owner root:root if it has other ones.
fix_meta() {
    if [ "$(stat -c '%a %u:%g' "$1")" != "$2 0:0" ]; then
        chown root:root "$1"
        chmod "$2" "$1"
        say "fixed owner/mode ($2 root:root): $1"
        changed=1
    fi
}

# Create DIR (and missing parents, 755) with MODE, or fix its mode and owner.
ensure_dir() {
    if [ -d "$1" ]; then
        fix_meta "$1" "$2"
    else
        mkdir -p "$1"
        chown root:root "$1"
        chmod "$2" "$1"
        say "created: $1"
        changed=1
    fi
}

# Install SRC as DEST (MODE, root:root) only when the content differs: copy to a temp file in
# DEST's directory, then rename over DEST (atomic; a running binary keeps its old inode).
# Sets wrote=1 when DEST was written, 0 when it was already identical. (A status would be
# tested with `if`, and set -e does not apply inside a function called from an `if`.)
put_file() {
    src=$1 dest=$2 mode=$3 wrote=0
    if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
        fix_meta "$dest" "$mode"
        say "unchanged: $dest"
        return 0
    fi
    if [ -e "$dest" ]; then verb=updated; else verb=installed; fi
    tmp=$(mktemp "$(dirname "$dest")/.$(basename "$dest").XXXXXX")
    cp "$src" "$tmp"
    chown root:root "$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$dest"
    tmp=""
    say "$verb: $dest"
    changed=1 wrote=1
}

install_packages() {
    say "installing $*"
    if have apt-get; then
        DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=120 update &&
            DEBIAN_FRONTEND=noninteractive apt-get -qq -y -o DPkg::Lock::Timeout=120 install "$@"
    elif have dnf; then
        dnf -q -y install "$@"
    elif have yum; then
        yum -q -y install "$@"
    else
        die "cannot install $*: no apt-get, dnf or yum here; install them and re-run"
    fi || die "installing $* failed"
    changed=1
}

# curl or wget (downloads, the one-shot command, manual updates) and unzip; nothing when present.
ensure_tools() {
    set --
    have curl || have wget || set -- "$@" curl
    have unzip || set -- "$@" unzip
    [ "$#" -eq 0 ] || install_packages "$@"
}

# The agent links libcurl, libarchive and libsystemd dynamically; a minimal image may lack one.
ensure_runtime() {
    "$1" --version >/dev/null 2>&1 && return 0
    if have apt-get; then
        install_packages libcurl4 libarchive13 libsystemd0
    else
        install_packages libcurl libarchive systemd-libs
    fi
    "$1" --version >/dev/null 2>&1 ||
        die "$1 does not run on this host: $("$1" --version 2>&1 | head -n 3)"
}

# agent.env holds a secret (the agent itself checks the format and says what is wrong).
env_configured() {
    grep -Eq '^[[:space:]]*(export[[:space:]]+)?BALCTL_ENROLLMENT_SECRET=["'\'']?[^"'\''[:space:]]' "$ENV_FILE"
}

# Enrolment in two steps, so that a refused one changes nothing on the host.
# stage_env: let the agent binary (it validates key, host name and URLs) enrol a copy of the
# current agent.env, so that other settings in it are kept. The bundled binary is used: it is
# the one about to be installed, and nothing is installed yet.
stage_env() {
    staged=$(mktemp "$CONF_DIR/.agent.env.XXXXXX")   # mode 600
    if [ -f "$ENV_FILE" ]; then cat "$ENV_FILE" >"$staged"; fi
    # The secret goes by environment, never argv (readable by every user in /proc/*/cmdline).
    set -- --enrol --env-file "$staged" --hostname "$hostname" --api-base "$api_base"
    if [ -n "$ca_file" ]; then set -- "$@" --ca-file "$CA_ON_HOST"; fi
    if [ -n "$update_pubkey" ]; then set -- "$@" --update-pubkey "$update_pubkey"; fi
    if [ -n "$update_url" ]; then set -- "$@" --update-url "$update_url"; fi
    # Its stdout names the temp file; errors (on stderr) are what the operator needs.
    BALCTL_ENROLLMENT_SECRET=$key "$HERE/balctl-heartbeat" "$@" >/dev/null || die "enrolment refused (see the message above); nothing installed"
}
# commit_env: rename the staged file over agent.env, unless they are identical (then agent.env
# and its mtime stay). Sets wrote=1 when agent.env changed.
commit_env() {
    wrote=0
    if [ -f "$ENV_FILE" ] && cmp -s "$staged" "$ENV_FILE"; then
        rm -f "$staged"; staged=""
        fix_meta "$ENV_FILE" 600
        say "unchanged: $ENV_FILE"
        return 0
    fi
    if [ -e "$ENV_FILE" ]; then verb=updated; else verb=written; fi
    chown root:root "$staged"
    chmod 600 "$staged"
    mv -f "$staged" "$ENV_FILE"
    staged=""
    say "$verb: $ENV_FILE"
    changed=1 wrote=1
}

run_by_hand_hint() {
    say "run the agent by hand (it reads /etc/balctl/agent.env), e.g. in the background:"
    say "  nohup /usr/local/bin/balctl-heartbeat >>/var/log/balctl-heartbeat.log 2>&1 &"
}

finish() {
    if [ "$changed" = 0 ]; then say "nothing changed"; else say "done"; fi
    exit 0
}

# --- uninstall --------------------------------------------------------------------------------
if [ "$uninstall" = 1 ]; then
    if systemd_up; then
        if [ -e "$UNIT" ]; then
            systemctl disable --now "$UNIT_NAME" ||
                say "warning: systemctl disable --now $UNIT_NAME failed; removing the files anyway"
        fi
    else
        say "systemd is not running here: stop a balctl-heartbeat started by hand yourself"
    fi
    if [ -e "$UNIT" ] || [ -L "$UNIT" ]; then unit_changed=1; fi
    for f in "$BIN" "$BIN.prev" "$UNIT"; do
        if [ -e "$f" ] || [ -L "$f" ]; then rm -f "$f"; say "removed: $f"; changed=1; fi
    done
    if [ "$unit_changed" = 1 ] && systemd_up; then systemctl daemon-reload; fi
    if [ -e "$STATE_DIR" ]; then rm -rf "$STATE_DIR"; say "removed: $STATE_DIR"; changed=1; fi
    if [ "$purge" = 1 ]; then
        if [ -e "$CONF_DIR" ]; then rm -rf "$CONF_DIR"; say "removed: $CONF_DIR"; changed=1; fi
    elif [ -e "$ENV_FILE" ]; then
        say "kept: $ENV_FILE (and any ca.pem beside it); --uninstall --purge removes them"
    fi
    finish
fi

# --- install ----------------------------------------------------------------------------------
HERE=$(cd -- "$(dirname -- "$0")" && pwd)
for f in balctl-heartbeat "$UNIT_NAME" balctl-heartbeat.env.example; do
    [ -f "$HERE/$f" ] || die "$HERE/$f is missing: run this script from the extracted agent.zip"
done

ensure_tools
ensure_runtime "$HERE/balctl-heartbeat"

ensure_dir "$(dirname "$BIN")" 755
ensure_dir "$(dirname "$UNIT")" 755
ensure_dir "$CONF_DIR" 700
ensure_dir "$STATE_DIR" 700
if [ "$enrol" = 1 ]; then stage_env; fi

put_file "$HERE/balctl-heartbeat" "$BIN" 755
restart=$wrote
put_file "$HERE/$UNIT_NAME" "$UNIT" 644
if [ "$wrote" = 1 ]; then restart=1 unit_changed=1; fi

if [ "$enrol" = 1 ]; then
    if [ -n "$ca_file" ]; then
        put_file "$ca_file" "$CA" 644
        if [ "$wrote" = 1 ]; then restart=1; fi
    fi
    commit_env
    if [ "$wrote" = 1 ]; then restart=1; fi
elif [ -f "$ENV_FILE" ]; then
    fix_meta "$ENV_FILE" 600
    say "kept: $ENV_FILE"
else
    put_file "$HERE/balctl-heartbeat.env.example" "$ENV_FILE" 600
fi

if ! env_configured; then
    say "$ENV_FILE has no BALCTL_ENROLLMENT_SECRET yet: fill in the enrolment settings (or re-run"
    say "with --enrol --key … --hostname … --api-base …); the service is not started"
    if systemd_up; then
        if [ "$unit_changed" = 1 ]; then systemctl daemon-reload; fi
        say "then: systemctl enable --now $UNIT_NAME"
    fi
    finish
fi

if ! have systemctl; then
    say "systemd not found (no systemctl in PATH): nothing enabled or started"
    run_by_hand_hint
    finish
fi
if ! systemd_up; then
    say "systemd is not running on this host (no /run/systemd/system): nothing enabled or started"
    run_by_hand_hint
    finish
fi

if [ "$unit_changed" = 1 ]; then systemctl daemon-reload; fi
if ! systemctl is-enabled --quiet "$UNIT_NAME"; then
    systemctl enable "$UNIT_NAME"
    say "enabled: $UNIT_NAME"
    changed=1
fi
if [ "$no_start" = 1 ]; then
    say "not starting or restarting $UNIT_NAME (--no-start)"
elif systemctl is-active --quiet "$UNIT_NAME"; then
    if [ "$restart" = 1 ]; then
        systemctl restart "$UNIT_NAME"
        say "restarted: $UNIT_NAME"
    fi
else
    systemctl start "$UNIT_NAME"
    say "started: $UNIT_NAME"
    changed=1
fi
if [ "$changed" = 1 ]; then
    say "check it with: systemctl status balctl-heartbeat; journalctl -u balctl-heartbeat -f"
fi
finish
