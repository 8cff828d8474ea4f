"""Turning text into vectors: the Embedder protocol, its factory and the torch and ONNX backends."""
