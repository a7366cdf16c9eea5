# This element means "no cloud": only the local NoCloud seed (an attached cidata volume still wins).
export DIB_CLOUD_INIT_DATASOURCES="NoCloud"
