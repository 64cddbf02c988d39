"""Data in: tables of image files and labels (or class folders and arrays made into
tables), checked and resolved; images decoded, augmented, mixed and cached; the
restartable batch stream; the bundled example datasets."""
