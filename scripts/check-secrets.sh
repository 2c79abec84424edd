#!/usr/bin/env bash
# Fails if git tracks a secret or a database: a private key (PEM or an
# ed25519 signing key as the gateway writes it), a key file by the names the
# gateway uses, or an SQLite database. A pseudonym key in a public
# repository undoes the pseudonyms of every log it ever keyed.
#
#   scripts/check-secrets.sh
set -euo pipefail
cd "$(dirname "$0")/.."

found=0
complain() {
    echo "error: tracked secret or database: $1 ($2)" >&2
    found=1
}

while IFS= read -r -d '' path; do
    [ -f "$path" ] || continue
    case "$(basename "$path")" in
        sectorgate-pseudonym* | sectorgate-checkpoint.key* | *.key | *.p12 | *.pfx | *.db | *.db-wal | *.db-shm | *.sqlite*)
            complain "$path" "its name is a key's or a database's"
            continue
            ;;
    esac
    if head -c 16 "$path" | grep -q "^SQLite format 3"; then
        complain "$path" "an SQLite database"
    elif grep -qE -- "-----BEGIN ([A-Z]+ )?PRIVATE KEY-----" "$path" 2>/dev/null; then
        complain "$path" "a PEM private key"
    fi
done < <(git ls-files -z)

if [ "$found" -ne 0 ]; then
    echo "remove them from git (git rm --cached), rotate them, and see docs/security.md" >&2
    exit 1
fi
echo "no tracked secrets" >&2
