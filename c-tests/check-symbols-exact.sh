#!/usr/bin/env bash
# Checks that a libvhd.so exports exactly the dynamic symbols of a list: every listed one,
# of the same kind (a function where the list has T, data where it has B/D), and no other.
# Lists every missing, extra or mismatched symbol and fails if there is any.
#
# Usage: c-tests/check-symbols-exact.sh LIBRARY SYMBOL_LIST
set -euo pipefail

lib=${1:?usage: $0 LIBRARY SYMBOL_LIST}
ref=${2:?usage: $0 LIBRARY SYMBOL_LIST}

[ -r "$lib" ] || { echo "check-symbols-exact: cannot read $lib" >&2; exit 1; }
[ -r "$ref" ] || { echo "check-symbols-exact: cannot read the symbol list $ref" >&2; exit 1; }

kind_class() {
	case $1 in
	T | t | W | i) echo function ;;
	B | b | D | d | G | g | S | s | R | r | V) echo data ;;
	*) echo "other($1)" ;;
	esac
}

declare -A ours wanted
while read -r _addr kind name; do
	ours[$name]=$kind
done < <(nm -D --defined-only "$lib")

problems=()
while read -r kind name; do
	[ -n "${name:-}" ] || continue
	wanted[$name]=$kind
	if [ -z "${ours[$name]:-}" ]; then
		problems+=("missing: $name ($kind)")
	elif [ "$(kind_class "$kind")" != "$(kind_class "${ours[$name]}")" ]; then
		problems+=("kind: $name is ${ours[$name]}, the list has $kind")
	fi
done < "$ref"
for name in "${!ours[@]}"; do
	[ -n "${wanted[$name]:-}" ] || problems+=("extra: $name (${ours[$name]})")
done

if [ ${#problems[@]} -ne 0 ]; then
	echo "check-symbols-exact: $lib does not match $ref:" >&2
	printf '  %s\n' "${problems[@]}" | sort >&2
	exit 1
fi
echo "check-symbols-exact: $lib exports exactly the ${#wanted[@]} symbols of $ref"
