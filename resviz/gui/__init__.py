"""The window: the only part of resviz that imports Qt."""
