"""What every part of pykd stands on: errors that speak R and Python, file storage
(local paths and tf.io.gfile URLs), content digests, the R bridge, the checks of plain
settings (numbers, choices) and the seeds drawn for unseeded runs."""
