export DIB_BLOCK_DEVICE=gpt
case "$ARCH" in
    amd64|i386|x86_64|ppc64el|ppc64le) ;;
    *) echo "block-device-gpt cannot boot $ARCH (use block-device-efi)" >&2; exit 1 ;;
esac
