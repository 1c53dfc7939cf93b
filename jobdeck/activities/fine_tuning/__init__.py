"""Fine-tuning: the providers (one module each, listed in providers.py), the steps every
hosted provider shares (hosted.py), Ollama's build and publish (ollama.py) and local LoRA
training (training.py)."""
