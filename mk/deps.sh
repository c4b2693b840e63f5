#!/usr/bin/env bash
# The Debian packages `make check` needs, in one place.
#
#   mk/deps.sh check     exit 0 if all are present; otherwise name the missing packages and
#                        the one command that installs them, and exit 1
#   mk/deps.sh install   apt-get install the missing ones (what .ci/run does)
set -euo pipefail

# What to look for, then the package that provides it. A path is tested with -e, a bare
# name with `command -v`.
needs=(
	"cc                         build-essential"
	"make                       build-essential"
	"/usr/include/uuid/uuid.h   uuid-dev"
	"pkg-config                 pkg-config"
	"readelf                    binutils"
	"objcopy                    binutils"
	"git                        git"
	"qemu-img                   qemu-utils"
	"qemu-io                    qemu-utils"
	"qemu-system-arm            qemu-system-arm"
	"valgrind                   valgrind"
	"bzip2                      bzip2"
	"script                     bsdutils"
	"python3                    python3"
	"/usr/lib/python3/dist-packages/cryptography/__init__.py python3-cryptography"
	"setpriv                    util-linux"
	"/usr/sbin/losetup          mount"
	"/usr/sbin/mkfs.ext4        e2fsprogs"
	"/usr/sbin/lvcreate         lvm2"
	"strace                     strace"
)

# The packages whose commands are missing, into `missing`.
find_missing() {
	missing=()
	for entry in "${needs[@]}"; do
		read -r what pkg <<<"$entry"
		case $what in
		/*) [ -e "$what" ] && continue ;;
		*) command -v "$what" >/dev/null 2>&1 && continue ;;
		esac
		case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
	done
}
find_missing

case ${1:-check} in
check)
	[ ${#missing[@]} -eq 0 ] && exit 0
	echo "make check needs these Debian packages: ${missing[*]}" >&2
	echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
	;;
install)
	[ ${#missing[@]} -eq 0 ] && exit 0
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
	# An install may remove what was there: a machine whose qemu-utils came from
	# elsewhere loses it to Debian's qemu-system-arm, which breaks that version. Debian's
	# own qemu-utils then matches; a second pass puts back whatever went.
	find_missing
	[ ${#missing[@]} -eq 0 ] && exit 0
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
	find_missing
	[ ${#missing[@]} -eq 0 ] || { echo "still missing: ${missing[*]}" >&2; exit 1; }
	;;
*)
	echo "usage: $0 check|install" >&2
	exit 2
	;;
esac
