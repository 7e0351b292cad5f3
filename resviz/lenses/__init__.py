"""Lenses: what the research on why residual networks train shows, computed for the user's own
models: signal propagation across depth, the loss landscape, lesion studies and the paths
gradients take. Qt-free; each result can be stored in a run file (``resviz.runfile.lenses``)."""
