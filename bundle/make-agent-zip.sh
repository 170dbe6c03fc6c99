#!/usr/bin/env bash
# Build a signed agent.zip: the release agent (static Swift runtime, stripped) stamped with the
# version, plus the files of bundle/, a manifest.json and its Ed25519 signature.
#
#   bundle/make-agent-zip.sh --version 0.2.0 --signing-key /etc/balctl/signing/agent-signing.key \
#                            --out /var/lib/balctl-server/agent-bundle [--valid-days 90] [--min-agent-version 0.1.0]
#
# Every option is passed to `balctl-server bundle` (see its --help). Serve the output directory
# with `balctl-server serve --agent-bundle DIR`.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bundle/build-agent.sh "$work" >&2
swift build -c release --product balctl-server >&2
.build/release/balctl-server bundle --binary "$work/balctl-heartbeat" --files bundle "$@"
