"""What a run leaves behind and how it is found again: run ids, the dataset record, the
run's ``manifest.json`` and the output root's ``registry.json``, written atomically.

Framework-free: nothing here imports an ML framework or a tracking client.
"""
