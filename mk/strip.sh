#!/usr/bin/env bash
# Strips installed objects, optionally keeping their debug info apart first, as
# distributions ship a library and its -dbgsym.
#
#   mk/strip.sh STRIP OBJCOPY DEBUGDIR DESTDIR FILE...
#
# FILE is an installed path without DESTDIR. An empty STRIP installs unstripped. A
# non-empty DEBUGDIR saves each file's debug info to DESTDIR/DEBUGDIR/FILE.debug and links
# it from the stripped file (.gnu_debuglink), where gdb looks for it. Archives (.a) lose
# only their debug sections: their symbols are what a static link resolves against.
set -euo pipefail
strip=$1 objcopy=$2 debugdir=$3 destdir=$4
shift 4
[ -n "$strip" ] || exit 0
for f in "$@"; do
	target=$destdir$f
	case $f in
	*.a)
		$strip --strip-debug "$target"
		continue
		;;
	*.so | *.so.*) flags=--strip-unneeded ;;
	*) flags=--strip-all ;;
	esac
	if [ -n "$debugdir" ]; then
		dbg=$destdir$debugdir$f.debug
		install -d "$(dirname "$dbg")"
		$objcopy --only-keep-debug "$target" "$dbg"
		chmod 644 "$dbg"
		$strip $flags "$target"
		$objcopy --add-gnu-debuglink="$dbg" "$target"
	else
		$strip $flags "$target"
	fi
done
