"""The data family: from files on disk to the batches the training loop takes (the README's
Files list says what each module holds). Nothing here imports the training loop, the models or
the entry points."""
