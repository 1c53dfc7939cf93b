"""Reading tabular files, converting them and validating fine-tuning data, in bounded
memory. Synchronous code that the dataset activities run in a worker thread."""
