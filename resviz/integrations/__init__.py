"""Recording from the frameworks people train with (Lightning, Hugging Face ``Trainer``): small
callbacks over the same ``RecordingSession`` that ``resviz.watch`` uses."""
