# OpenStack clouds: config drive first, then the metadata service; NoCloud for local testing.
# ds-identify only enables the ones it detects, so the list costs nothing at boot.
export DIB_CLOUD_INIT_DATASOURCES=${DIB_CLOUD_INIT_DATASOURCES:-"ConfigDrive, OpenStack, NoCloud"}
export DIB_CLOUD_INIT_ALLOW_SSH_PWAUTH=${DIB_CLOUD_INIT_ALLOW_SSH_PWAUTH:-}
