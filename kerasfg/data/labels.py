"""Label spaces shared by every face data source, so that one model trains and tests across them."""

EXPRESSIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
"""The 7-class expression label space of FER2013, CK+, JAFFE, IMFDB and the synthetic faces (alphabetical,
as the FER/CK+/JAFFE paper's code orders its class folders)."""
