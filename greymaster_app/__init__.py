"""The GreyMaster applications: the `greymaster` CLI (and later the Qt app and playback)."""
