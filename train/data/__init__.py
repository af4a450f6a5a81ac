"""The data family: from files on disk to the batches the training loop takes.

    cache.py         where data is read from and caches written; the .npz array cache
    network.py       whether a download can start (a quick reachability probe)
    mnist.py         MNIST through TFDS, offline when the files are at hand (Q7)
    imagefolder.py   ImageFolder trees and .tgz archives read as grayscale (Q12-Q14)
    mnist_varres.py  mnist-varres (Q12-Q17) found, downloaded and cached
    groups.py        ImageGroup (same-shape images) and splits of them
    resolution.py    grouping by resolution, bucketing onto canvases, resizing
    augment.py       on-device augmentation (Q9)
    batching.py      the epoch plan both trainers share, and evaluation batches
    datasets.py      a config -> its train/validation/test splits (load_datasets)

Nothing here imports the training loop, the models or the entry points.
"""
