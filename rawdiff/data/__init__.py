"""rawdiff.data — scenes, rendered text and word crops, synthetic datasets, real-dataset loaders, checks, image
I/O and augmentation (DESIGN.md §3); rawdiff.data.datasets.ensure_datasets is what every notebook calls first."""
