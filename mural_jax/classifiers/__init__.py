"""Success classifiers: MLE, meta-NML and exact CNML, as pure functions."""
