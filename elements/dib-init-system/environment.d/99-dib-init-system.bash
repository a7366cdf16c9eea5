# The OS element sets DIB_INIT_SYSTEM; anything else is a configuration error that stops the phase.
case "${DIB_INIT_SYSTEM:-}" in
    systemd|sysv|openrc|upstart) ;;
    *) echo "DIB_INIT_SYSTEM='${DIB_INIT_SYSTEM:-}' is not one of systemd, sysv, openrc, upstart (the OS element must set it)" >&2; exit 1 ;;
esac
