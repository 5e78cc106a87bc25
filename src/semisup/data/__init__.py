"""Data: the download or stand-in -> checked, split folders; images and unlabelled streams on the device."""
