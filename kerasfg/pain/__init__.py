"""The pain-intensity system of ``002_c1e3dd09777d292a.txt`` chapter 2 (and its CK+ expression variant):
face video registered and frontalized, a VGG-Face CNN regressing the PSPI of each frame, an LSTM over the
CNN's fc6 features, and the thesis's evaluation.

- `kerasfg.pain.metrics`: AUC, accuracy, MSE, MAE, Pearson, ICC, unbalanced and skew-normalized, per
  subject, with the pain-level merging of the continuous evaluation.
"""
