#!/usr/bin/env bash
# A fresh clone, alone in its directory (no reference material or anything else beside it), must pass
# the README's first two commands as written: the main job and the test command.
#
# Run by `make check`; inside the clone it is not run again (VHD_RS_IN_CLONE_TEST). It tests
# what is committed (HEAD), not uncommitted changes. When .ci/run found its checkout
# pristine (VHD_RS_PRISTINE_HEAD) and it still is, the `make check` running this test is
# itself the test command in a fresh clone: only the first command runs in the clone.
set -euo pipefail
if [ -n "${VHD_RS_IN_CLONE_TEST:-}" ]; then
	echo "clone test: skipped inside the clone test itself"
	exit 0
fi
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
[ -z "$(git -C "$repo" status --porcelain)" ] ||
	echo "clone test: note: uncommitted changes are not part of the clone"

# The README's first lines: a sh block whose first two commands are the ones to run.
mapfile -t cmds < <(awk '/^```sh$/{on=1; next} /^```$/{if (on) exit} on' "$repo/README.md" |
	sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' | head -n 2)
[ ${#cmds[@]} -eq 2 ] || { echo "clone test: README does not start with two commands" >&2; exit 1; }

# Still the checkout .ci/run found pristine: same commit, nothing modified or untracked
# (ignored build outputs are what this make check has made since).
if [ -n "${VHD_RS_PRISTINE_HEAD:-}" ] &&
	[ "$VHD_RS_PRISTINE_HEAD" = "$(git -C "$repo" rev-parse HEAD)" ] &&
	[ -z "$(git -C "$repo" status --porcelain)" ]; then
	echo "clone test: '${cmds[1]}' is not run again: it is running now, in a pristine checkout of HEAD (.ci/run)"
	cmds=("${cmds[0]}")
fi

tmp=$(mktemp -d /tmp/vhd-rs-clone.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# As an ordinary checkout is: tests that drop privileges (nobody) must reach their files.
chmod 755 "$tmp"
git clone --quiet --no-local "$repo" "$tmp/vhd-rs"
[ "$(ls -A "$tmp")" = vhd-rs ]
cd "$tmp/vhd-rs"
export VHD_RS_IN_CLONE_TEST=1
unset CARGO_TARGET_DIR
for c in "${cmds[@]}"; do
	echo "clone test: running '$c' in a fresh clone ($tmp/vhd-rs)"
	start=$(date +%s)
	if ! bash -c "$c" >"$tmp/log" 2>&1; then
		tail -n 40 "$tmp/log"
		echo "clone test: '$c' failed in a fresh clone" >&2
		exit 1
	fi
	echo "clone test: '$c' passed in $(($(date +%s) - start)) s"
done
echo "clone test passed"
