#!/usr/bin/env bash
# Writes the audit log's pseudonym keys ahead of time, for instances that
# share them read-only (a Kubernetes Secret, a read-only mount): one key per
# period from the current one on, named as the gateway names them
# (`<first day of the period>.key`, 64 hex digits, mode 0600). Keys already
# in the folder are kept: replacing one would give its period's users a
# second pseudonym.
#
#   deploy/pseudonym-keys.sh DIR [PERIODS] [PERIOD_DAYS]
#
#   DIR          the key folder (created, mode 0700, if missing)
#   PERIODS      how many periods to cover, the current one included (default 13)
#   PERIOD_DAYS  audit.pseudonym_period in whole days (default 30)
#
# A gateway that finds no key for the current period in a folder it cannot
# write refuses requests (503, audit.unavailable): run this again, and
# update the Secret, well before the last key's period begins. The script
# prints that date.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
dir="$1"
periods="${2:-13}"
period_days="${3:-30}"
case "$periods$period_days" in
    *[!0-9]*) echo "pseudonym-keys: PERIODS and PERIOD_DAYS are whole numbers" >&2; exit 2 ;;
esac
if [ "$periods" -lt 1 ] || [ "$period_days" -lt 1 ]; then
    echo "pseudonym-keys: PERIODS and PERIOD_DAYS are at least 1" >&2
    exit 2
fi

umask 077
mkdir -p "$dir"

# Periods are aligned on the Unix epoch, as the gateway aligns them.
today=$(( $(date -u +%s) / 86400 ))
first=$(( today / period_days ))
created=0
for (( period = first; period < first + periods; period++ )); do
    id="$(date -u -d "@$(( period * period_days * 86400 ))" +%F)"
    key="$dir/$id.key"
    if [ -e "$key" ]; then
        continue
    fi
    tmp="$(mktemp "$dir/.new.XXXXXX")"
    od -An -v -N32 -tx1 /dev/urandom | tr -d ' \n' >"$tmp"
    mv -n "$tmp" "$key"
    rm -f "$tmp"
    created=$(( created + 1 ))
done
last="$(date -u -d "@$(( (first + periods - 1) * period_days * 86400 ))" +%F)"
ends="$(date -u -d "@$(( (first + periods) * period_days * 86400 ))" +%F)"
echo "pseudonym-keys: $created new key(s) in $dir; the last period begins $last and ends $ends" >&2
