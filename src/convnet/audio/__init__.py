"""Sound for convolutional networks: WAV reading, resampling, log-mel spectrograms (features.py),
audio data sets (datasets.py) and training-time augmentation (augment.py). Used by the audio
task (convnet.tasks.audio); nothing here is imported by `import convnet`."""
