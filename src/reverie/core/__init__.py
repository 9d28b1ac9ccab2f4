"""What every part of reverie stands on, and which imports nothing of reverie: errors, typed
configs, atomic files, the checkpoint format, run metrics and statistics."""
