"""Runtime behind the app and the CLI (`python -m assistant ask | evaluate | bench`).

- retrieval: passages for a question          - settings: DecodingSettings -> generate() kwargs
- registry: model variants, each loaded once  - prompting: the variant's prompt within its context
- generation: streamed generate() + stats     - answer: citations, reasoning, extractive fallback
- engine: question -> Answer, for one variant or all of them (compare)
- evaluation, bench: scores and timings; documents, model_info: what the Documents/Models views read
"""
