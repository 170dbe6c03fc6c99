#!/bin/sh
# installer-test.sh: bundle/balctl-agent.sh against a throwaway root (BALCTL_ROOT) with a fake
# systemctl first on PATH that records its calls and keeps enabled/active state in files.
#
#   AGENT_BIN=.build/debug/balctl-heartbeat BUNDLE_DIR=bundle sh Tests/EndToEndTests/Installer/installer-test.sh
#
# Runs as root (the installer chowns to root). Stops at the first failed assertion, non-zero.
# SKIP_SYSTEMD_ANALYZE=1 skips the `systemd-analyze verify` step where systemd is not installed.
set -eu

: "${AGENT_BIN:?set AGENT_BIN to a balctl-heartbeat binary}"
: "${BUNDLE_DIR:?set BUNDLE_DIR to the bundle/ directory of the repository}"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
R="$T/root"
B="$T/bundle"
OUT="$T/out"
LOG="$T/systemctl/log"
UNIT=balctl-heartbeat.service
KEY=0123456789abcdef0123456789abcdef0123456789abcdef
KEY2=fedcba9876543210fedcba9876543210fedcba9876543210

fail() {
    printf 'installer-test: FAIL: %s\n' "$*" >&2
    if [ -s "$OUT" ]; then sed 's/^/  | /' "$OUT" >&2; fi
    exit 1
}
pass() { printf 'installer-test: ok: %s\n' "$*"; }

# --- the fake extracted agent.zip ---------------------------------------------------------------
mkdir -p "$B"
for f in balctl-agent.sh balctl-heartbeat.service balctl-heartbeat.env.example README.md INSTALL_VM.txt; do
    cp "$BUNDLE_DIR/$f" "$B/$f"
done
cp "$AGENT_BIN" "$B/balctl-heartbeat"
chmod 755 "$B/balctl-heartbeat"

# A CA file (content only has to look like PEM: the installer copies it, the agent is not run).
cat >"$T/ca.pem" <<'EOF'
-----BEGIN CERTIFICATE-----
MIIBfakeTestCertificateForTheInstallerTestOnly0123456789abcdefABCDEF
-----END CERTIFICATE-----
EOF

# --- the fake systemctl -------------------------------------------------------------------------
mkdir -p "$T/bin" "$T/systemctl"
cat >"$T/bin/systemctl" <<'EOF'
#!/bin/sh
# Records argv; state: files "enabled" and "active" in FAKE_SYSTEMCTL_DIR.
d=$FAKE_SYSTEMCTL_DIR
echo "$*" >>"$d/log"
verb="" now=0
for a in "$@"; do
    case $a in
        --now) now=1 ;;
        -*) ;;
        *) [ -n "$verb" ] || verb=$a ;;
    esac
done
case $verb in
    is-enabled) [ -f "$d/enabled" ] ;;
    is-active) [ -f "$d/active" ] ;;
    enable) touch "$d/enabled"; if [ "$now" = 1 ]; then touch "$d/active"; fi ;;
    disable) rm -f "$d/enabled"; if [ "$now" = 1 ]; then rm -f "$d/active"; fi ;;
    start|restart) touch "$d/active" ;;
    stop) rm -f "$d/active" ;;
    daemon-reload) ;;
    *) echo "fake systemctl: unexpected $*" >&2; exit 1 ;;
esac
EOF
chmod 755 "$T/bin/systemctl"
: >"$LOG"

# Run the installer into ROOT ($R unless INSTALL_ROOT is set); output in $OUT.
installer() {
    BALCTL_ROOT="${INSTALL_ROOT:-$R}" FAKE_SYSTEMCTL_DIR="$T/systemctl" PATH="$T/bin:$PATH" \
        sh "$B/balctl-agent.sh" "$@" >"$OUT" 2>&1
}
# systemctl calls since the log had $1 lines.
calls_since() { tail -n "+$(($1 + 1))" "$LOG"; }
log_lines() { wc -l <"$LOG"; }

expect_mode() {  # path "mode user:group"
    [ -e "$1" ] || fail "$1 does not exist"
    got=$(stat -c '%a %U:%G' "$1")
    [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
}
expect_line() {  # file line
    grep -qxF -- "$2" "$1" || fail "$1 lacks the line: $2"
}
expect_call() {  # since "argv"
    calls_since "$1" | grep -qxF -- "$2" || fail "systemctl was not called with: $2"
}
expect_no_call() {  # since regex
    if calls_since "$1" | grep -Eq -- "$2"; then
        fail "systemctl was called: $(calls_since "$1" | grep -E -- "$2" | head -n 1)"
    fi
}
# Every regular file: inode (a rename changes it), mtime, mode, owner and content hash.
snapshot() {
    find "$R" -type f | sort | while read -r f; do
        printf '%s %s\n' "$(stat -c '%n %i %Y %a %U:%G' "$f")" "$(sha256sum <"$f" | cut -d' ' -f1)"
    done
}

BIN="$R/usr/local/bin/balctl-heartbeat"
ENV="$R/etc/balctl/agent.env"
ENROL="--enrol --key $KEY --hostname vm1.example --api-base https://cp.example:8443 --ca-file $T/ca.pem"
mkdir -p "$R/run/systemd/system"   # "systemd is running" in the throwaway root

# --- refusals: nothing is installed -------------------------------------------------------------
if installer --bogus; then fail "an unknown option was accepted"; fi
grep -q 'unknown option --bogus' "$OUT" || fail "no clear message for an unknown option"
if installer --enrol --key "$KEY"; then fail "--enrol without --hostname/--api-base was accepted"; fi
if installer --purge; then fail "--purge without --uninstall was accepted"; fi
[ ! -e "$R/usr" ] || fail "a refused run installed something"
pass "bad options refused before anything is installed"

# --- first install ------------------------------------------------------------------------------
# shellcheck disable=SC2086  # $ENROL is a word list on purpose
installer $ENROL || fail "first install failed"
expect_mode "$BIN" "755 root:root"
expect_mode "$R/etc/systemd/system/$UNIT" "644 root:root"
expect_mode "$R/etc/balctl" "700 root:root"
expect_mode "$ENV" "600 root:root"
expect_mode "$R/etc/balctl/ca.pem" "644 root:root"
expect_mode "$R/var/lib/balctl" "700 root:root"
cmp -s "$BIN" "$AGENT_BIN" || fail "the installed binary differs from AGENT_BIN"
cmp -s "$R/etc/balctl/ca.pem" "$T/ca.pem" || fail "ca.pem differs from --ca-file"
expect_line "$ENV" "BALCTL_ENROLLMENT_SECRET=$KEY"
expect_line "$ENV" "BALCTL_HOSTNAME=vm1.example"
expect_line "$ENV" "BALCTL_API_BASE=https://cp.example:8443"
expect_line "$ENV" "BALCTL_CA_FILE=/etc/balctl/ca.pem"
expect_call 0 "daemon-reload"
expect_call 0 "enable $UNIT"
expect_call 0 "start $UNIT"
[ -z "$(find "$R" -name '.*' -type f)" ] || fail "temp files left: $(find "$R" -name '.*' -type f)"
pass "first install: files, modes, agent.env, daemon-reload + enable + start"

# --- systemd-analyze verify accepts the installed unit -------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
    # --root: ExecStart is looked up in the throwaway root; --recursive-errors=no: the root has
    # no sysinit.target etc. for the default dependencies; --man=no: no man pages needed.
    systemd-analyze verify --man=no --recursive-errors=no --root="$R" \
        "$R/etc/systemd/system/$UNIT" >"$OUT" 2>&1 || fail "systemd-analyze verify refused the unit"
    pass "systemd-analyze verify accepts the unit"
elif [ "${SKIP_SYSTEMD_ANALYZE:-0}" = 1 ]; then
    echo "installer-test: skipped: systemd-analyze verify (SKIP_SYSTEMD_ANALYZE=1)"
else
    fail "systemd-analyze not found: install systemd (or set SKIP_SYSTEMD_ANALYZE=1)"
fi

# --- second identical run changes nothing -------------------------------------------------------
snapshot >"$T/before"
n=$(log_lines)
sleep 1   # so that a rewrite would show in the mtime (seconds) too, not only in the inode
# shellcheck disable=SC2086
installer $ENROL || fail "second install failed"
grep -qx 'balctl-agent: nothing changed' "$OUT" || fail "second run did not say: nothing changed"
snapshot >"$T/after"
cmp -s "$T/before" "$T/after" || fail "second run changed files: $(diff "$T/before" "$T/after")"
expect_no_call "$n" '^(daemon-reload|start|restart|enable|stop)'
pass "second run: nothing changed, no file touched, no reload/start/restart"

# --- a new host name rewrites agent.env and restarts --------------------------------------------
bin_inode=$(stat -c %i "$BIN")
n=$(log_lines)
installer --enrol --key "$KEY" --hostname vm2.example --api-base https://cp.example:8443 \
    --ca-file "$T/ca.pem" || fail "re-enrol with another host name failed"
expect_line "$ENV" "BALCTL_HOSTNAME=vm2.example"
expect_line "$ENV" "BALCTL_CA_FILE=/etc/balctl/ca.pem"
expect_mode "$ENV" "600 root:root"
expect_call "$n" "restart $UNIT"
expect_no_call "$n" '^daemon-reload'
[ "$(stat -c %i "$BIN")" = "$bin_inode" ] || fail "the unchanged binary was rewritten"
pass "another --hostname: agent.env rewritten, service restarted, binary untouched"

# --- a bad key is refused by the binary and leaves agent.env alone ------------------------------
env_sum=$(sha256sum <"$ENV")
if installer --enrol --key not-a-key --hostname vm2.example --api-base https://cp.example:8443; then
    fail "a malformed key was accepted"
fi
grep -q 'enrolment refused' "$OUT" || fail "no clear message for a malformed key"
[ "$(sha256sum <"$ENV")" = "$env_sum" ] || fail "a refused enrolment changed agent.env"
if installer --enrol --key "$KEY2" --hostname vm2.example --api-base http://cp.example; then
    fail "a plaintext --api-base was accepted"
fi
[ "$(sha256sum <"$ENV")" = "$env_sum" ] || fail "a refused enrolment changed agent.env"
[ -z "$(find "$R" -name '.*' -type f)" ] || fail "temp files left: $(find "$R" -name '.*' -type f)"
pass "malformed key and plaintext URL refused, agent.env untouched"

# --- a run without --enrol keeps agent.env ------------------------------------------------------
env_sum=$(sha256sum <"$ENV")
installer || fail "a run without --enrol failed"
[ "$(sha256sum <"$ENV")" = "$env_sum" ] || fail "a run without --enrol changed agent.env"
grep -qx 'balctl-agent: nothing changed' "$OUT" || fail "a run without --enrol did not say: nothing changed"
pass "a run without --enrol keeps agent.env"

# --- uninstall keeps agent.env; --purge removes /etc/balctl -------------------------------------
cp "$BIN" "$BIN.prev"
n=$(log_lines)
installer --uninstall || fail "--uninstall failed"
for f in "$BIN" "$BIN.prev" "$R/etc/systemd/system/$UNIT" "$R/var/lib/balctl"; do
    [ ! -e "$f" ] || fail "--uninstall left $f"
done
[ -f "$ENV" ] || fail "--uninstall removed agent.env"
[ -f "$R/etc/balctl/ca.pem" ] || fail "--uninstall removed ca.pem"
expect_call "$n" "disable --now $UNIT"
expect_call "$n" "daemon-reload"
installer --uninstall || fail "a second --uninstall failed"
grep -qx 'balctl-agent: nothing changed' "$OUT" || fail "a second --uninstall did not say: nothing changed"
installer --uninstall --purge || fail "--uninstall --purge failed"
[ ! -e "$R/etc/balctl" ] || fail "--uninstall --purge left /etc/balctl"
pass "--uninstall removes binary, .prev, unit and state, keeps agent.env; --purge removes /etc/balctl"

# --- fresh install without --enrol: env example copied, nothing started -------------------------
INSTALL_ROOT="$T/root2"
mkdir -p "$INSTALL_ROOT/run/systemd/system"
n=$(log_lines)
installer || fail "install without --enrol failed"
expect_mode "$INSTALL_ROOT/etc/balctl/agent.env" "600 root:root"
cmp -s "$INSTALL_ROOT/etc/balctl/agent.env" "$B/balctl-heartbeat.env.example" ||
    fail "agent.env is not the example"
grep -q 'fill in' "$OUT" || fail "no hint to fill in agent.env"
expect_no_call "$n" '^(start|restart|enable)'
pass "install without --enrol: agent.env from the example (600), service not started"

# --- no systemd running: files installed, nothing started, how to run it by hand ----------------
INSTALL_ROOT="$T/root3"
n=$(log_lines)
installer --enrol --key "$KEY" --hostname vm1.example --api-base https://cp.example:8443 ||
    fail "install without systemd failed"
expect_mode "$INSTALL_ROOT/usr/local/bin/balctl-heartbeat" "755 root:root"
grep -q 'systemd is not running' "$OUT" || fail "no message that systemd is absent"
grep -q 'by hand' "$OUT" || fail "no hint how to run the agent by hand"
[ "$(log_lines)" = "$n" ] || fail "systemctl was called without systemd: $(calls_since "$n")"
pass "without systemd: installed, nothing started, hint printed"
unset INSTALL_ROOT

echo "installer-test: all passed"
