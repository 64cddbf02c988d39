"""After training: evaluate, predict (Keras models and .tflite files), export, compare."""
