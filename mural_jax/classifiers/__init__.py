"""Success classifiers: MLE (and VICE's), meta-NML and exact CNML.

Each module has a frozen `Settings` (its run config section, with the paper's
defaults) and a `Classifier(settings, input_size)` with ``init(key) -> state``,
``train(state, data..., key) -> (state, metrics)`` and ``probs(state, x)`` over
a pytree state (meta-NML's ``probs`` also takes the key of its context draw),
beside the pure functions they are built from. `common` holds what they share.
"""
