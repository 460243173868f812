//! Finding the ONNX Runtime shared library.
