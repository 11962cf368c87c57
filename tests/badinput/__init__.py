"""The bad-input corpus: every case ends in one clear message and leaves nothing written.

``inputs`` builds the bad files; ``cases_files`` (model files, bundles, checkpoints) and
``cases_values`` (tensors, input files, flags) define the cases through ``registry``; ``all_cases``
collects them; ``test_corpus`` runs each through the real entry point (the ``edgernn`` CLI through
click's runner, or the Python API).
"""
