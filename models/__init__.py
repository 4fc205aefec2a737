"""Model definitions only: ``models.transformer`` (PyTorch) and ``models.lstm`` (Keras).

Import the submodule you need; this package imports no framework by itself, so the
Transformer path never loads TensorFlow and the LSTM path never loads PyTorch.
"""
