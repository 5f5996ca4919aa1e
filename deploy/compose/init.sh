#!/bin/sh
# One-shot set-up of the compose stack, run by its `init` service before the
# others start: the development PKI (with server certificates for the compose
# host names), the MasterKey and the Gateway's token file. Safe to run again:
# each step is skipped once done. Development only: a production deployment
# gets its certificates from its own CA and unseals with `krypton admin unseal`.
set -eu
krypton() { node --secure-heap=65536 /opt/krypton/dist/src/cli/main.js "$@"; }

if [ ! -f /var/lib/krypton/pki/.compose-issued ]; then
  krypton pki init --dir /var/lib/krypton/pki
  krypton pki issue --dir /var/lib/krypton/pki --name core --spiffe spiffe://krypton.dev/core --dns core --dns localhost --ip 127.0.0.1 --server --force
  krypton pki issue --dir /var/lib/krypton/pki --name registry --spiffe spiffe://krypton.dev/registry --dns registry --dns localhost --ip 127.0.0.1 --server --force
  krypton pki issue --dir /var/lib/krypton/pki --name cmk --spiffe spiffe://krypton.dev/cmk --dns cmk --dns localhost --ip 127.0.0.1 --server --force
  touch /var/lib/krypton/pki/.compose-issued
fi
if [ ! -f /var/lib/krypton/pki/unseal.json ]; then
  krypton core init --config /etc/krypton/core.json --unseal-file /var/lib/krypton/pki/unseal.json
fi
if [ ! -f /var/lib/krypton/pki/tokens.json ]; then
  echo "the app token for tenant demo (shown once):"
  krypton token create --tenant demo --services '*' --file /var/lib/krypton/pki/tokens.json
fi
