"""Packaged configuration files (``defaults.toml``): the data contract's defaults."""
