"""Training: the loop, checkpoints (safetensors only) and progress output."""
