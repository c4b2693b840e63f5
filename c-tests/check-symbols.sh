#!/usr/bin/env bash
# Checks that our libvhd.so exports every symbol the reference libvhd.so does (except the
# four internal ones listed below), each of the same kind: a function where the reference
# has a function (T), data where it has data (B/D). Lists every missing or mismatched
# symbol and fails if there is any.
#
# Usage: c-tests/check-symbols.sh LIBRARY REFERENCE_LIST
set -euo pipefail

lib=${1:?usage: $0 LIBRARY REFERENCE_LIST}
ref=${2:?usage: $0 LIBRARY REFERENCE_LIST}
# Internal to the reference (not declared in its headers, not used by its clients).
exempt=" vhd_open_fast vhd_read_short_footer lvm_scan_vg lvm_free_vg "

[ -r "$lib" ] || { echo "check-symbols: cannot read $lib" >&2; exit 1; }
[ -r "$ref" ] || { echo "check-symbols: cannot read the reference list $ref" >&2; exit 1; }

# name -> kind letter, for every defined dynamic symbol of ours.
declare -A ours
while read -r _addr kind name; do
	ours[$name]=$kind
done < <(nm -D --defined-only "$lib")

kind_class() {
	case $1 in
	T | t | W | i) echo function ;;
	B | b | D | d | G | g | S | s | R | r | V) echo data ;;
	*) echo "other($1)" ;;
	esac
}

checked=0
problems=()
while read -r kind name; do
	[ -n "${name:-}" ] || continue
	[[ $exempt == *" $name "* ]] && continue
	checked=$((checked + 1))
	if [ -z "${ours[$name]:-}" ]; then
		problems+=("missing: $name ($kind)")
	elif [ "$(kind_class "$kind")" != "$(kind_class "${ours[$name]}")" ]; then
		problems+=("kind: $name is ${ours[$name]}, the reference has $kind")
	fi
done < "$ref"

if [ ${#problems[@]} -ne 0 ]; then
	echo "check-symbols: $lib does not match $ref:" >&2
	printf '  %s\n' "${problems[@]}" >&2
	exit 1
fi
echo "check-symbols: all $checked reference symbols exported by $lib"
