export DIB_BLOCK_DEVICE=mbr
case "$ARCH" in
    amd64|i386|x86_64|ppc64el|ppc64le) ;;
    *) echo "block-device-mbr cannot boot $ARCH (use block-device-efi)" >&2; exit 1 ;;
esac
