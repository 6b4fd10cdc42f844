"""Embedded default models: how each is built from packaged registry assets, and where it is cached."""
