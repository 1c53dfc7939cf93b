"""Fine-tuning providers, each behind one small interface (adding a provider = one module)."""
