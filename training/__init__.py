"""Training pipeline: tokenizer, pretraining, LoRA instruction tuning, distillation, evaluation.

Arrives with the training issue; it will read the corpus through `index.loaders`.
"""
