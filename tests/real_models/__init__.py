"""Recurrent model classes from public libraries and official examples, re-created for the export
corpus (docs/export-models.md): same layers, same forward, same calling conventions as the source
named in each class's docstring; written here (not copied, not imported), weights random."""
