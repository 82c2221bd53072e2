"""Runtime behind the app: retrieval, prompts, decoding settings, model registry, generation.

Only retrieval exists so far (`assistant.retrieval`); generation arrives with the app issue.
"""
