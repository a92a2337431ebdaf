#!/bin/sh
# Throwaway OpenPGP keys for the unit tests of src/repo/keyring.rs (never used to sign
# anything real). Run from this directory to make them again; the tests sign their own
# messages with these keys (pgp crate), at whatever times they need.
#   good.asc     ed25519 primary (cert, sign), no expiry, with three ed25519 signing subkeys:
#                the first valid, the second expiring 1 day after it was made, the third
#                revoked
#   expiring.asc ed25519 primary (cert, sign) expiring 2 days after it was made
#   revoked.asc  ed25519 primary (cert, sign), revoked
#   rsa.asc      rsa2048 primary (cert, sign), no expiry
# Each file holds the unprotected secret key; the public key is derived from it.
set -eu
GNUPGHOME=$(mktemp -d)
export GNUPGHOME
trap 'rm -rf "$GNUPGHOME"' EXIT
gen() { gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key "$1" "$2" "$3" "$4"; }
fpr() { gpg --with-colons --list-keys "$1" | awk -F: '$1 == "fpr" { print $10; exit }'; }
export_secret() { gpg --batch --pinentry-mode loopback --passphrase '' --armor --export-secret-keys "$1" > "$2"; }

gen 'compose test good <good@invalid>' ed25519 cert,sign never
good=$(fpr good@invalid)
gpg --batch --pinentry-mode loopback --passphrase '' --quick-add-key "$good" ed25519 sign never
gpg --batch --pinentry-mode loopback --passphrase '' --quick-add-key "$good" ed25519 sign 1d
gpg --batch --pinentry-mode loopback --passphrase '' --quick-add-key "$good" ed25519 sign never
printf 'key 3\nrevkey\ny\n0\n\ny\nsave\n' |
    gpg --batch --pinentry-mode loopback --passphrase '' --command-fd 0 --edit-key "$good"
export_secret "$good" good.asc

gen 'compose test expiring <expiring@invalid>' ed25519 cert,sign 2d
export_secret "$(fpr expiring@invalid)" expiring.asc

gen 'compose test revoked <revoked@invalid>' ed25519 cert,sign never
revoked=$(fpr revoked@invalid)
sed 's/^:-----/-----/' "$GNUPGHOME/openpgp-revocs.d/$revoked.rev" > rev.asc
gpg --batch --import rev.asc
rm rev.asc
export_secret "$revoked" revoked.asc

gen 'compose test rsa <rsa@invalid>' rsa2048 cert,sign never
export_secret "$(fpr rsa@invalid)" rsa.asc
