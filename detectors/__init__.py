"""Video detector workers: capture, motion gating, ONNX inference, tracking, zone analytics, health."""
